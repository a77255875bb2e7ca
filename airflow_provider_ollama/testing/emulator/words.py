"""The emulator's vocabulary: plain English words its generated text and JSON values are made of.

Readable output makes test failures easy to read; a fixed list keeps generation deterministic.
"""

from __future__ import annotations

_VOCABULARY = """
    the a model river light signal garden question answer data result value system network cloud
    stone paper window morning evening summer winter ocean forest mountain valley city village road
    bridge engine library record table column number letter story voice music colour pattern shape
    simple quick quiet bright careful gentle steady clear warm cold early late small large new old
    green blue golden silver narrow wide open closed strong soft sharp round square hidden
    runs flows grows turns holds reads writes builds finds keeps brings shows moves starts ends
    changes follows carries measures explains describes returns becomes remains appears connects
    and but so because while when where after before under over across through between within
    every each many several some few most often always sometimes rarely again together
    cat dog bird fish tree flower leaf seed root branch field farm harbour ship train station
    teacher student doctor farmer builder writer reader painter driver pilot keeper maker
    first second third next last final whole part half quarter level step stage layer point
    reason method process plan idea detail example summary report message lesson chapter page
"""

WORDS: tuple[str, ...] = tuple(dict.fromkeys(_VOCABULARY.split()))

THINKING_OPENERS: tuple[str, ...] = (
    "Let me think about this.",
    "First I should consider the question.",
    "The user is asking something specific.",
    "I need to work through this step by step.",
)
