from emergent.cli import main

main()
