"""The joint model's (paper 002) choices the command line offers: its parts, objectives, retrieval targets, and
the location application's classifiers and decisions. Plain constants, so building the parser imports no torch."""

PARTS = ("text", "image", "hashtags", "user", "location")
TARGETS = (*PARTS, "post")  # "post": the mean of a post's parts
OBJECTIVES = ("mean", "others", "pairwise")  # what each part is trained against (models/joint.py)
LOCATION_DECISIONS = ("nearby", "city")  # models/location.py
LOCATION_CLASSIFIERS = ("linear", "forest")  # tasks/learn/joint_location.py
