"""Hand-written items for the contexts without a public benchmark: factual, creative, conversational, ethical.

Written for this project (Apache-2.0, like the code), so they cannot be in any training corpus. Each
creative prompt names elements the story must use; each conversational and ethical prompt carries the
words a reply that listens to it would name. `make_items.py` turns these into suite items.
"""

from __future__ import annotations

# (question, gold aliases): answers that cannot be read off the question.
FACTUAL: list[tuple[str, list[str]]] = [
    ("What is the capital of Australia?", ["Canberra"]),
    ("Who wrote the novel 'Pride and Prejudice'?", ["Jane Austen", "Austen"]),
    ("In which year did the Berlin Wall fall?", ["1989"]),
    ("What is the chemical symbol for gold?", ["Au"]),
    ("Which planet is the largest in our solar system?", ["Jupiter"]),
    ("Who painted the Mona Lisa?", ["Leonardo da Vinci", "da Vinci", "Leonardo"]),
    ("What language is the official language of Brazil?", ["Portuguese"]),
    ("What is the tallest mountain in Africa?", ["Kilimanjaro", "Mount Kilimanjaro"]),
    ("Who was the first woman to win a Nobel Prize?", ["Marie Curie", "Curie"]),
    ("Which ocean is the largest on Earth?", ["Pacific", "Pacific Ocean"]),
    ("In what year did the Titanic sink?", ["1912"]),
    ("What is the currency of Switzerland?", ["Swiss franc", "franc", "CHF"]),
    ("Who developed the theory of general relativity?", ["Albert Einstein", "Einstein"]),
    ("What is the longest river in South America?", ["Amazon", "Amazon River"]),
    ("What is the smallest prime number?", ["2", "two"]),
    ("How many bones are in the adult human body?", ["206"]),
    ("What is the capital city of Canada?", ["Ottawa"]),
    ("Which element has the atomic number 1?", ["hydrogen"]),
    ("Who wrote the play 'Romeo and Juliet'?", ["William Shakespeare", "Shakespeare"]),
    ("What is the hardest natural substance?", ["diamond"]),
    ("In which country is the city of Marrakesh?", ["Morocco"]),
    ("Who was the first person to walk on the Moon?", ["Neil Armstrong", "Armstrong"]),
    ("What gas do plants absorb from the air for photosynthesis?", ["carbon dioxide", "CO2"]),
    ("What is the largest desert in the world, including polar deserts?", ["Antarctic", "Antarctica"]),
    ("Which composer wrote the 'Moonlight Sonata'?", ["Beethoven", "Ludwig van Beethoven"]),
    ("What is the capital of Japan?", ["Tokyo"]),
    ("How many continents are there on Earth by the usual count?", ["7", "seven"]),
    ("Who discovered penicillin?", ["Alexander Fleming", "Fleming"]),
    ("What is the freezing point of water in degrees Fahrenheit?", ["32"]),
    ("Which country gifted the Statue of Liberty to the United States?", ["France"]),
    ("What is the largest mammal on Earth?", ["blue whale"]),
    ("In which city is the Colosseum?", ["Rome"]),
    (
        "Who wrote 'One Hundred Years of Solitude'?",
        ["Gabriel Garcia Marquez", "Garcia Marquez", "Márquez", "Gabriel García Márquez", "García Márquez"],
    ),
    ("What is the main language spoken in Argentina?", ["Spanish"]),
    ("Which planet is known as the Red Planet?", ["Mars"]),
    ("How many sides does a hexagon have?", ["6", "six"]),
    ("What is the capital of Kenya?", ["Nairobi"]),
    ("Who invented the telephone, according to the 1876 patent?", ["Alexander Graham Bell", "Bell"]),
    ("What is the most abundant gas in Earth's atmosphere?", ["nitrogen"]),
    ("Which country has the largest population in South America?", ["Brazil"]),
    ("What is the square root of 144?", ["12", "twelve"]),
    ("Who was the first President of the United States?", ["George Washington", "Washington"]),
    ("In which year did the Second World War end?", ["1945"]),
    ("What is the capital of Egypt?", ["Cairo"]),
    ("Which organ pumps blood through the human body?", ["heart"]),
    ("What is the largest country by area?", ["Russia"]),
    ("Who wrote the 'Odyssey' according to tradition?", ["Homer"]),
    ("What is the chemical formula of table salt?", ["NaCl", "sodium chloride"]),
    ("Which metal is liquid at room temperature?", ["mercury"]),
    ("What is the capital of Norway?", ["Oslo"]),
    ("In which continent is the Atacama Desert?", ["South America"]),
    ("Who proposed the three laws of motion?", ["Isaac Newton", "Newton"]),
    ("What is the national language of Iran?", ["Persian", "Farsi"]),
    ("How many minutes are there in a day?", ["1440", "1,440"]),
    ("Which instrument has 88 keys in its standard modern form?", ["piano"]),
]

# Creative: (form, character, name, thing, its head noun, place, its head noun). The reply must name
# the character, the thing and the place: a fixed story cannot.
CREATIVE_FORMS = [
    "a short story",
    "a poem",
    "a fable with a moral",
    "the opening scene of a novel",
    "a bedtime story",
]
CREATIVE_PARTS = [
    ("a lighthouse keeper", "Mara", "a brass key", "key", "a night train", "train"),
    ("a retired astronaut", "Tomas", "a paper boat", "boat", "a desert market", "market"),
    ("a shy baker", "Ines", "a cracked violin", "violin", "an abandoned greenhouse", "greenhouse"),
    ("a young cartographer", "Kofi", "a glass feather", "feather", "a frozen harbour", "harbour"),
    ("an old clockmaker", "Yusuf", "a silver compass", "compass", "a floating library", "library"),
    ("a stubborn goat", "Pepper", "a golden apple", "apple", "a mountain monastery", "monastery"),
    ("a night nurse", "Agnes", "a sealed letter", "letter", "a rooftop garden", "garden"),
    ("a street musician", "Dario", "a tin robot", "robot", "a flooded subway station", "subway"),
    ("a curious fox", "Fennel", "a lantern that never goes out", "lantern", "a salt marsh", "marsh"),
    ("a beekeeper", "Hana", "a map drawn on silk", "map", "a lighthouse island", "island"),
]

# Conversational: (template with {x}, [(filler, words a reply about it would use)]).
CONVERSATIONAL = [
    (
        "I just got back from a trip to {x}!",
        [
            ("Japan", ["japan", "japanese", "tokyo", "kyoto", "osaka"]),
            ("Iceland", ["iceland", "icelandic", "reykjavik", "glacier", "geyser"]),
            ("Peru", ["peru", "peruvian", "lima", "machu picchu", "andes", "cusco"]),
            ("Portugal", ["portugal", "portuguese", "lisbon", "porto"]),
            ("Vietnam", ["vietnam", "vietnamese", "hanoi", "saigon", "pho"]),
        ],
    ),
    (
        "I'm trying to learn to play the {x}.",
        [
            ("guitar", ["guitar", "chord", "strum", "fret", "string"]),
            ("piano", ["piano", "keys", "scales", "chord"]),
            ("violin", ["violin", "bow", "string"]),
            ("drums", ["drum", "beat", "rhythm", "sticks"]),
            ("ukulele", ["ukulele", "uke", "chord", "strum"]),
        ],
    ),
    (
        "We adopted a {x} yesterday and the house is chaos.",
        [
            ("puppy", ["puppy", "dog", "pup"]),
            ("kitten", ["kitten", "cat", "kitty"]),
            ("rabbit", ["rabbit", "bunny"]),
            ("parrot", ["parrot", "bird"]),
            ("pair of guinea pigs", ["guinea pig", "guinea pigs"]),
        ],
    ),
    (
        "I finally finished reading {x} last night.",
        [
            ("The Lord of the Rings", ["lord of the rings", "tolkien", "frodo", "middle earth"]),
            ("Moby-Dick", ["moby", "whale", "melville", "ahab"]),
            ("War and Peace", ["war and peace", "tolstoy"]),
            ("Dune", ["dune", "herbert", "arrakis", "paul atreides"]),
            ("Don Quixote", ["quixote", "cervantes", "sancho"]),
        ],
    ),
    (
        "My garden finally has {x}!",
        [
            ("tomatoes", ["tomato"]),
            ("strawberries", ["strawberr", "berries"]),
            ("sunflowers", ["sunflower"]),
            ("pumpkins", ["pumpkin"]),
            ("chilli peppers", ["chilli", "chili", "pepper"]),
        ],
    ),
    (
        "I spent the whole weekend {x}.",
        [
            ("baking sourdough bread", ["sourdough", "bread", "bake", "baking", "loaf"]),
            ("painting my kitchen", ["paint", "kitchen", "colour", "color"]),
            ("hiking in the mountains", ["hike", "hiking", "mountain", "trail"]),
            ("building a bookshelf", ["bookshelf", "shelf", "shelves", "build", "wood"]),
            ("watching old kung fu films", ["kung fu", "film", "movie", "martial"]),
        ],
    ),
    (
        "Guess what, I {x} today!",
        [
            ("ran my first 10k", ["10k", "run", "race", "running"]),
            ("passed my driving test", ["driving", "driver", "test", "licence", "license"]),
            ("got a promotion at work", ["promotion", "promoted", "job", "work"]),
            ("swam across the lake", ["swim", "swam", "lake"]),
            ("cooked my first curry", ["curry", "cook", "spice"]),
        ],
    ),
    (
        "It's so {x} today, I don't know what to do with myself.",
        [
            ("hot", ["hot", "heat", "warm", "sun", "cool"]),
            ("rainy", ["rain", "wet", "umbrella", "indoors"]),
            ("windy", ["wind", "breez", "gust"]),
            ("snowy", ["snow", "cold", "winter"]),
            ("foggy", ["fog", "mist", "grey", "gray"]),
        ],
    ),
    (
        "My {x} is visiting this weekend and I'm so excited.",
        [
            ("sister", ["sister", "sibling"]),
            ("grandmother", ["grandmother", "grandma", "gran", "nana"]),
            ("best friend from school", ["friend", "school"]),
            ("brother from Canada", ["brother", "canada"]),
            ("old roommate", ["roommate", "flatmate"]),
        ],
    ),
    (
        "Honestly, I think {x} is the best season of the year.",
        [
            ("autumn", ["autumn", "fall", "leaves"]),
            ("winter", ["winter", "snow", "cold"]),
            ("spring", ["spring", "bloom", "flower"]),
            ("summer", ["summer", "sun", "beach", "warm"]),
            ("the rainy season", ["rain", "monsoon", "season"]),
        ],
    ),
]

# Ethical: (template with {x}, [(filler, words a reply that engages the specifics would use)]).
ETHICAL = [
    (
        "My friend asked me to {x}. Should I do it?",
        [
            ("say he was with me last night when he wasn't", ["lie", "alibi", "cover", "truth", "honest"]),
            ("write her university essay for her", ["essay", "cheat", "academic", "plagiar", "write"]),
            ("lend him my car even though he has no insurance", ["insurance", "car", "insured", "accident"]),
            ("keep a secret from her husband", ["secret", "husband", "marriage"]),
            ("share my streaming password with his whole family", ["password", "streaming", "account", "subscription"]),
        ],
    ),
    (
        "Is it wrong to {x}?",
        [
            ("eat meat", ["meat", "animal", "vegetarian", "vegan"]),
            ("keep animals in zoos", ["zoo", "animal", "captivity", "conservation"]),
            ("pirate films I could never afford to buy", ["pira", "film", "afford", "copyright", "creator"]),
            ("tell a white lie about a friend's cooking", ["lie", "cooking", "honest", "feeling"]),
            ("read my partner's diary if I suspect they're unhappy", ["diary", "privacy", "trust", "partner"]),
        ],
    ),
    (
        "Should {x}?",
        [
            ("self-driving cars protect passengers or pedestrians first", ["passenger", "pedestrian", "car"]),
            ("parents read their teenager's messages", ["teen", "privacy", "parent", "message"]),
            ("companies use AI to screen job applicants", ["applicant", "hiring", "bias", "ai"]),
            ("euthanasia be legal", ["euthanasia", "assisted", "dying", "death"]),
            ("rich countries accept more refugees", ["refugee", "asylum", "countr"]),
        ],
    ),
    (
        "I found {x}. Can I keep it?",
        [
            ("a wallet with $300 and an ID in it", ["wallet", "owner", "id", "return"]),
            ("a phone on the bus", ["phone", "owner", "bus", "return"]),
            ("a $50 note in a supermarket car park", ["note", "50", "owner", "supermarket"]),
            ("an unlocked bicycle in a park", ["bicycle", "bike", "owner", "stolen"]),
            (
                "extra money in my bank account from a payroll error",
                ["payroll", "bank", "employer", "error", "mistake"],
            ),
        ],
    ),
    (
        "My boss asked me to {x}. What should I do?",
        [
            (
                "exaggerate our product's benefits to customers",
                ["customer", "exaggerat", "product", "honest", "mislead"],
            ),
            ("backdate an invoice", ["invoice", "backdat", "fraud", "date"]),
            ("stay quiet about a safety problem in the factory", ["safety", "factory", "report", "worker"]),
            ("fire a colleague who just announced her pregnancy", ["pregnan", "discriminat", "colleague", "fire"]),
            ("delete emails before an audit", ["audit", "email", "delete", "evidence"]),
        ],
    ),
    (
        "Is it fair that {x}?",
        [
            ("landlords refuse tenants with pets", ["landlord", "tenant", "pet"]),
            ("athletes who dope are banned for life", ["dop", "athlet", "ban", "life"]),
            (
                "children of alumni get an advantage in university admissions",
                ["alumni", "legacy", "admission", "merit"],
            ),
            ("people with more money get faster medical care", ["medical", "health", "money", "wealth", "care"]),
            ("older workers are offered early retirement first in layoffs", ["older", "retire", "age", "layoff"]),
        ],
    ),
    (
        "A coworker {x}. Would it be wrong to do the same to them?",
        [
            ("takes credit for my ideas in meetings", ["credit", "idea", "meeting"]),
            ("reads my messages when I leave my desk", ["message", "privacy", "desk"]),
            ("gossips about me to our manager", ["gossip", "manager", "rumou", "rumor"]),
            ("eats my lunch from the office fridge", ["lunch", "fridge", "food"]),
            ("always leaves their work for me to finish", ["work", "workload", "finish", "fair"]),
        ],
    ),
    (
        "Is it okay to {x}?",
        [
            ("use a sick day when I'm mentally exhausted but not ill", ["sick", "mental", "exhaust", "rest"]),
            ("break a promise to a friend to help a stranger in an emergency", ["promise", "stranger", "emergency"]),
            ("report my friend for cheating on an exam", ["cheat", "exam", "report", "friend"]),
            ("have children given climate change", ["climate", "children", "child", "future"]),
            ("buy cheap clothes made in sweatshops", ["sweatshop", "labou", "labor", "worker", "cloth"]),
        ],
    ),
    (
        "Should social media platforms {x}?",
        [
            ("remove misinformation", ["misinformation", "speech", "censor", "false"]),
            ("ban anonymous accounts", ["anonym", "account", "identity", "privacy"]),
            ("show users' ages to each other", ["age", "minor", "privacy"]),
            ("let teenagers under 16 sign up", ["teen", "16", "young", "child"]),
            ("pay the news outlets whose articles they show", ["news", "journalis", "pay", "article"]),
        ],
    ),
    (
        "Would it be ethical to use {x}?",
        [
            ("facial recognition in public spaces to catch criminals", ["facial", "surveillance", "privacy", "crim"]),
            ("animals to test cosmetics", ["animal", "test", "cosmetic", "cruel"]),
            ("genetic editing to choose a baby's eye colour", ["genetic", "gene", "eye", "designer"]),
            ("a deceased artist's voice in a new song made with AI", ["voice", "artist", "consent", "estate"]),
            ("lie detectors in job interviews", ["lie detector", "polygraph", "interview", "privacy"]),
        ],
    ),
]

# Dialogues (items/dialogues/*.jsonl, make_dialogues.py): the user turns that open, interrupt and revise
# them. A later turn never repeats what it depends on, so answered alone it cannot pass.
MEMORY_FACTS = "Keep these facts in mind; I will ask you a question about them later. {facts}"
MEMORY_QUESTION = "Now my question about those facts: {question}"

STORY_OPENING = (
    "I'm writing {form} about {character} called {name} who finds {thing} in {place}. Give me a one-line premise."
)
STORY_RETURN = (
    "Sorry, back to my writing from before: suggest a title for it, and remind me of the main character's "
    "name and the object they find."
)
# Per CONVERSATIONAL template (by index): the turn that comes back to it after a factual question.
CHAT_RETURNS = {
    0: "Anyway, back to the first thing I told you about. What is one dish I should learn to cook to remember it?",
    1: "Anyway, back to what I said I'm learning at the start. How many minutes a day should I practise?",
    2: "Anyway, back to the new family member I mentioned at the start. What should we buy for it first?",
    3: "Anyway, back to what I finished last night. Can you recommend something similar to read next?",
    5: "Anyway, back to how I spent my weekend. Can you suggest how I could do even better next time?",
}

# Revisions of a piece of writing: (the user's follow-up, IFEval instruction id, its kwargs).
REVISIONS: list[tuple[str, str, dict]] = [
    ("Now make it much shorter: fewer than 30 words in total.", "length_constraints:number_words",
     {"relation": "less than", "num_words": 30}),
    ("Now rewrite it entirely in lowercase letters, with no capital letters at all.",
     "change_case:english_lowercase", {}),
    ("Now rewrite it so that it ends with the exact phrase 'The end.' and nothing after it.",
     "startend:end_checker", {"end_phrase": "The end."}),
    ("Now rewrite it as exactly 3 markdown bullet points, each starting with '* '.",
     "detectable_format:number_bullet_lists", {"num_bullets": 3}),
    ("Now rewrite it and wrap your entire reply in double quotation marks.", "startend:quotation", {}),
    ("Now give it a title wrapped in double angular brackets, such as <<my title>>, followed by the text.",
     "detectable_format:title", {}),
]  # fmt: skip
NUMBER_ONLY = "Now give me only the final number from your answer: no words, no working."

# References: one reply per request template that passes its checks (the positive control). Each template
# gets its own text, because the primary metric fails a reply that is the side's reply to another family of
# requests with this one's words put in (evaluate/primary.py): one text for every template would be the parrot
# control, not a reference. Within a family the {x} varies and the text may stay.
CONVERSATIONAL_REFERENCES = [
    "{x}! What a trip to come home from. What is the moment you keep thinking about, and which dish do you already miss?",
    "Learning the {x} is a lovely thing to take on. Short daily practice beats long weekly sessions, and it gets "
    "fun once the first song clicks. What are you working on right now?",
    "Congratulations on the new {x}! The first week is always chaos while everyone settles in, so a quiet corner "
    "and a simple routine help a lot. What name did you pick?",
    "Finishing {x} is a real achievement: it is not a short read. How did the ending land for you, and which "
    "character stayed with you most?",
    "Home-grown {x}, the best reward for all that watering. Did you start them from seed? I'd love to hear what "
    "you plan to make with the first harvest.",
    "That sounds like a well-spent weekend: {x} is a great way to switch off. How did it turn out, and would you "
    "do it again?",
    '"I {x} today" is the best sentence I have heard all day. Well done! How are you celebrating, and what made '
    "today the day?",
    "When it's this {x}, a slow day can be a good thing. Make something to drink, put on a film, or call someone "
    "you have been meaning to talk to. What do you usually enjoy on days like this?",
    "How lovely that your {x} is coming! Have you planned anything special, or is it more about catching up over "
    "long meals?",
    "{x} really does have a strong case. What do you love most about it: the weather, the food, or the way the "
    "days feel?",
]
ETHICAL_REFERENCES = [
    "Wanting to help a friend who asked you to {x} is natural, and saying yes would spare an awkward moment. But it "
    "could mean a lie, a risk or a broken rule on your side if it goes wrong, and a good friend should not ask you "
    "to carry that. Explain why you are not comfortable and offer a different kind of help.",
    "Whether it is wrong to {x} depends on what weighs most for you. Some people think it is fine because the harm "
    "is small or indirect. However, others argue it adds up to something they cannot defend, so ask who bears the "
    "cost and whether you would accept the reasons in their place.",
    "There are serious arguments on both sides of whether {x}. Supporters point to the people it would protect or "
    "help; critics worry about fairness, freedom and what happens when it goes wrong. A reasonable answer weighs "
    "both and looks at evidence from places that have tried it.",
    "Finders keepers is tempting, especially when nobody would know. However, {x} almost always belongs to someone "
    "who is missing it, so the honest move is to hand it in or try to return it. If nobody claims it after a "
    "reasonable time, keeping it is much easier to justify.",
    "Being asked by your boss to {x} puts you in a hard position: you want to keep your job, but you would be the "
    "one doing something you may be blamed for. Ask for the request in writing, say calmly why it worries you, and "
    "if it is clearly wrong, take it to HR or someone above them.",
    "Some would say it is fair that {x}, since those involved carry costs and risks of their own. On the other hand, "
    "it treats people differently for reasons they cannot always control. Where you land depends on whether you "
    "weigh the individual's rights or the group's interests more.",
    "It is understandable to want to answer in kind when a coworker {x}. But doing the same would make you part of "
    "the problem and weaken your case if this ever reaches a manager. Talk to them directly first, keep a note of "
    "what happens, and escalate if it continues.",
    "It can be okay to {x}, and many thoughtful people would. On the other hand, there are costs to others that are "
    "worth naming honestly before you decide. Think about who is affected, what you would advise a friend in your "
    "place, and whether there is a middle path.",
    "Whether social media platforms should {x} is hotly debated. In favour, it could reduce harm and make the "
    "platforms safer for ordinary users. However, it gives private companies a lot of power over speech and may "
    "be applied unevenly, so clear rules and an appeal process matter either way.",
    "Using {x} could bring real benefits, which is why some people support it. However, it raises questions of "
    "consent, privacy and fairness that critics say are not yet answered. Whether it is ethical depends on strong "
    "safeguards, oversight, and whether less intrusive options exist.",
]
# One per form, in CREATIVE_FORMS order; slots as in CREATIVE_PARTS.
CREATIVE_REFERENCES = [
    "{name} had walked through {place} a hundred times, but tonight something glinted under the dust: {thing}. "
    "{name} turned the {thing_word} over slowly, remembering a promise made long ago, and understood at last why "
    "the {place_word} had always felt like it was waiting. By morning, {name} was gone, and so was the {thing_word}.",
    "In {place}, where the quiet grows,\n{name} found {thing} that no one knows.\n{name} held the {thing_word} "
    "against the light,\nand the {place_word} hummed all through the night.\nSome gifts arrive to ask, not tell,\n"
    "and {name} would keep this secret well.",
    "Once, in {place}, {name} came upon {thing}. Every passer-by said to sell the {thing_word} at once, but {name} "
    "waited, cared for it, and asked what it was for. When winter came to the {place_word}, the {thing_word} proved "
    "to be exactly what everyone needed. Moral: patience sees what haste cannot.",
    "The first thing anyone noticed about {place} was the silence, and the second was {name}, standing in the "
    "middle of it with {thing} in both hands. Nobody had seen where the {thing_word} came from. {name} looked "
    "around the {place_word}, counted to three, and began to run.",
    "Once upon a time, {name} went for a gentle walk in {place} and found {thing}, tucked under a leaf as if it "
    "were sleeping. {name} carried the {thing_word} home very carefully and set it by the window, where it glowed "
    "softly all night. And whenever the {place_word} grew dark, {name} and the {thing_word} kept each other company "
    "until morning. Sleep well.",
]
