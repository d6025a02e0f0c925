"""The 100 Flickr tags of the uncurated Flickr-Face dataset (Bulat et al., appendix C).

The paper downloaded images carrying any of these tags "to increase the likelihood of finding a face
in the image"; they are the default `harvest.flickr.tags`, in the paper's order.
"""

BULAT_TAGS: tuple[str, ...] = (
    "human", "people", "person", "face", "fashion", "portrait", "emotion", "expression", "affect",
    "happy", "sad", "anger", "angry", "smile", "laugh", "joy", "surprise", "disgust", "confused",
    "fear", "horror", "adult", "lady", "ladies", "beauty", "gentleman", "gentlemen", "man", "men",
    "woman", "women", "baby", "infant", "toddler", "kid", "child", "children", "senior", "father",
    "mother", "dad", "mom", "elderly", "grandfather", "grandmother", "grandpa", "grandma",
    "grandparent", "ancestor", "40s", "50s", "60s", "70s", "80s", "90s", "couple", "family",
    "brother", "sister", "sibling", "cousin", "wedding", "marriage", "funeral", "party", "formal",
    "boy", "girl", "teen", "teenager", "youth", "friend", "classmate", "group photo", "team",
    "gathering", "teacher", "professor", "lecturer", "coach", "tutor", "worker", "boss", "celebrity",
    "sport", "self", "selfie", "photoshoot", "concert", "gigs", "band", "dance", "marathon",
    "passenger", "army", "soldier", "marching", "military", "protest", "crowds",
)  # fmt: skip
