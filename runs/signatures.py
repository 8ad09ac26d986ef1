"""Failure signatures: an error message reduced to what identifies its cause, then hashed.

When a warehouse credential expires, twelve pipelines of four clients fail with twelve slightly
different messages: other query ids, times, hosts, task names, stack frames, client libraries.
``failure_signature`` gives them one short digest, so that failures with one cause are counted
and shown once, while messages that name another cause (another schema, another missing table,
a timeout rather than a refused connection, another exit code) keep digests of their own.
``normalise_error`` gives the text the digest is taken of, to show beside an example message.
docs/failure-signatures.md explains the rules with examples. In order:

1. **Bound the cost.** A message longer than ``WINDOW_CHARS`` is read as its first and last
   halves of that (the last from its first whole line): a Python traceback ends with its
   exception, a Java one starts with it, and the middle of a 1 MB log says nothing the ends do
   not. Every later step reads at most that, and the meaningful lines at most
   ``MAX_SCAN_CHARS`` characters, then ``MAX_WORDS`` words.
2. **The meaningful lines.**
   - After the last ``Traceback (most recent call last):``, the exception: the first line that
     is neither blank nor indented (a frame), and the lines after it. Log lines before the
     traceback (Airflow's ``Task failed with exception``) are left behind.
   - Otherwise from the last ``Caused by:`` of a Java or Scala trace (the root cause), or from
     the first line.
   - Reading stops at a stack frame (``\tat …``, ``... 12 more``), at an echo of the statement
     (PostgreSQL's ``QUERY:``, ``CONTEXT:``, ``STATEMENT:``, JDBC's ``Where:`` and
     ``Position:``, SQLAlchemy's ``[SQL: …]``, ``[parameters: …]`` and ``(Background on this
     error at: …)``) and, after a Python exception, at a log line. Skipped: blank lines,
     PostgreSQL's ``LINE 3: …`` and its caret line, where dbt failed rather than why
     (``Database Error in model NAME (PATH)``, a bare ``Runtime Error``, ``compiled code at
     …``), BigQuery's ``Location:`` and ``Job ID:`` footers, Py4J's ``An error occurred while
     calling o123.save``. At most ``MAX_LINES`` lines are kept; a message of one line is kept
     whatever it is.
   - What only says which library raised it goes: the leading chain of exception classes named
     with their module path, severities and codes (``psycopg2.errors.InsufficientPrivilege:``,
     ``org.postgresql.util.PSQLException: ERROR:``, ``sqlalchemy.exc.ProgrammingError:
     (psycopg2.errors.InsufficientPrivilege)``, Snowflake's ``002003 (42S02): <query id>:``,
     Google's ``404`` before its reason), so that one cause reads the same from psql, psycopg,
     JDBC, SQLAlchemy and dbt; Airflow's log prefix (``[2024-05-01, 02:10:33 UTC]
     {taskinstance.py:2905} ERROR -``); a module path before a class elsewhere
     (``java.lang.OutOfMemoryError`` → ``OutOfMemoryError``: packages move between versions).
     A bare class stays (``KeyError: 'customer_id'``). Airflow's ``<TaskInstance: dag.task
     run_id [state]>`` becomes ``<taskinstance>``: the executor losing tasks is one cause.
3. **Fold case and whitespace,** then replace what identifies one occurrence rather than its
   cause, in this order: URLs (any ``scheme://``, ``jdbc:postgresql://`` too) → ``<url>``;
   e-mail addresses → ``<email>``; UUIDs (and Snowflake's query ids) → ``<uuid>``; dates and
   times (ISO 8601, Airflow's ``2024-05-01, 02:10:33 UTC``, a bare ``02:10:33``, a run id's
   ``scheduled__2024-…``) → ``<ts>``; IP addresses (v4 with a port, v6) and host names (dotted
   names whose last label is a common top-level or an internal domain, with a port) →
   ``<host>``; PostgreSQL's ``Key (id)=(42)`` values → ``(<value>)``; hexadecimal numbers and
   hashes (``0x…``, 8 or more hex digits) → ``<hex>``; other words of 6 or more letters and
   digits mixed (pod suffixes, job ids) → ``<id>``, but not a word with a version or size
   after it (``urllib3``, ``sha256``); file paths (absolute, Windows, relative with two slashes
   or a file extension, with their query string) → ``<path>``; quoted *values* → ``'<str>'``
   or ``"<str>"``: after a colon that does not end an exception's name, or after ``value``,
   ``string``, ``date``, ``timestamp``, ``boolean``, ``literal`` or ``parse`` (and the word
   after ``value:`` → ``<str>``); last, every other number (with its decimals) → ``<n>``,
   except exit, return, status, HTTP and signal codes, kept as printed because they name the
   cause: ``return code 1`` (the task failed) and ``return code 137`` (killed, usually for
   memory) stay apart.
4. **Cut** the result to ``MAX_NORMALISED_CHARS`` characters, at a space when there is one.

Names are kept on purpose, quoted or not: a schema, table, column, constraint, user,
warehouse, key or module says *what* broke, so ``permission denied for schema analytics`` and
``... schema staging`` keep two signatures, as do two missing tables.

Normalising twice changes nothing (the tests hold it to that): the rules run in an order where
no later replacement changes what an earlier rule looked at, and where a rule looks at a name
around a number, a number and a placeholder read alike.

The digest is the first 16 hex digits (64 bits) of BLAKE2b over ``RULES_VERSION`` and the
normalised text. A missing or blank message has no signature (``None``): it says nothing
about a cause, and grouping every empty one together would merge unrelated failures. A change
to these rules bumps ``RULES_VERSION``, so that digests made by different rules never compare
equal by chance.

Why no log-template library (Drain and its kind): they learn templates from the messages seen
so far, so the same message can get another template later; a signature must be a pure
function of its message. And why Python's re, with each rule found from a rare character
rather than one pattern scanned over the whole text: bench/signatures.py.
"""

from __future__ import annotations

import hashlib
import re
import string
from collections.abc import Callable
from typing import NamedTuple

RULES_VERSION = 1
DIGEST_HEX_CHARS = 16
WINDOW_CHARS = 4_000
MAX_LINES = 3
# The meaningful lines are read up to this many characters, then this many words: a count of
# words, unlike one of characters, does not move when a number or a path gets longer.
MAX_SCAN_CHARS = 800
MAX_WORDS = 64
MAX_NORMALISED_CHARS = 500


class FailureSignature(NamedTuple):
    digest: str
    normalised: str


def failure_signature(message: str | None) -> FailureSignature | None:
    """The signature of a failed run's error message; ``None`` when it has none."""
    if not message or message.isspace():
        return None
    normalised = normalise_error(message)
    payload = f"{RULES_VERSION}\n{normalised}".encode("utf-8", "surrogatepass")
    digest = hashlib.blake2b(payload, digest_size=DIGEST_HEX_CHARS // 2).hexdigest()
    return FailureSignature(digest=digest, normalised=normalised)


def normalise_error(message: str) -> str:
    """``message`` reduced to the text that identifies its cause (the module's rules)."""
    words = _meaningful_lines(_bounded(message)).lower().split(None, MAX_WORDS)
    text = _replace_occurrences(" ".join(words[:MAX_WORDS]))
    if len(text) > MAX_NORMALISED_CHARS:
        text = _cut(text)
    return text


# --- 1. bounding ---


def _bounded(message: str) -> str:
    if len(message) <= WINDOW_CHARS:
        return message
    half = WINDOW_CHARS // 2
    tail = message[-half:]
    newline = tail.find("\n")
    # From the tail's first whole line: a line cut in two could pass for an exception line.
    return message[:half] + "\n" + (tail[newline + 1 :] if newline >= 0 else tail)


# --- 2. the meaningful lines ---

_PYTHON_TRACEBACK = "Traceback (most recent call last):"
# The exception after a traceback: the first line that is neither blank nor indented.
_EXCEPTION_LINE = re.compile(r"\n(?=\S)")
_CAUSED_BY = "\nCaused by: "

# One look per line: a line that ends the meaningful part (a stack frame, an echo of the
# statement, SQLAlchemy's footnotes), or one that is skipped (blank, PostgreSQL's statement
# excerpt and its caret, where dbt compiled the node, dbt's "in which node" header).
_LINE_KIND = re.compile(
    r"""
    (?P<stop>
        [ \t]+at[ ]\S
      | [ \t]*\.\.\.[ ]\d+[ ]more
      | [ \t]*(?:QUERY|CONTEXT|STATEMENT|Where|Position):
      | [ \t]*\[(?:SQL|parameters):
      | [ \t]*\(Background[ ]on[ ]this[ ]error[ ]at:
    )
    | (?P<log>\[\d{4}-\d\d-\d\d[T ,])
    | (?P<skip>
        \s*$
      | \s*\^[\s^]*$
      | \s*LINE[ ]\d+:
      | \s*compiled[ ](?:[Cc]ode|SQL)[ ]at[ ]
      | \s*(?:[A-Z][a-z]+[ ])?Error
        (?:[ ]in[ ](?:model|seed|snapshot|test|source|macro|operation|analysis|unit_test)
           [ ]\S+(?:[ ]\(.*\))?)?\s*$
      | \s*(?:Location|Job[ ]ID):[ ]
      | (?:py4j\.protocol\.)?Py4JJavaError:[ ]An[ ]error[ ]occurred[ ]while[ ]calling[ ]\S+\s*$
    )
    """,
    re.VERBOSE,
)
# What may lead the meaningful lines, one after another: exception classes named with their
# module path, severities ("ERROR:", "FATAL:"), SQLAlchemy's "(driver.Class) ", Snowflake's
# "002003 (42S02): " code with its query id, Google's "404 " before its reason, the ": " that
# Py4J starts Java's message with. A bare class stays: "KeyError: 'customer_id'".
_WRAPPER = re.compile(
    r"""\s*(?:
        (?:[A-Za-z_]\w*\.)+[A-Z][\w$]*:\s+
      | (?:ERROR|FATAL|PANIC|WARNING):\s+
      | \((?:[a-z_]\w*\.)+[A-Z]\w*\)\s*
      | \d{6}\s\([0-9A-Z]{5}\):\s*(?:[0-9a-f]{8}(?:-[0-9a-f]{4}){3}-[0-9a-f]{12}:\s*)?
      | [1-5]\d\d\s(?=[A-Z])
      | :\s+
    )""",
    re.VERBOSE,
)
# Every wrapper above is the first word, or starts with one of these: most lines have none.
_MAY_BE_WRAPPED = re.compile(r"\s*(?:\S*:\s|[(:0-9])")
_TASK_INSTANCE = re.compile(r"<(?:TaskInstance|DagRun):? [^<>\n]*>")
_AIRFLOW_LOG_PREFIX = re.compile(r"^\s*\[[^\]]*\]\s+\{[^}]*\}\s+[A-Z]+\s+-\s+")
# A class named with its module path: the hit is the dot before the class, followed by ":".
_QUALIFIED_CLASS = re.compile(r"\.(?=[A-Z][A-Za-z0-9_$]*[a-z][\w$]*:)")
_ALNUM = string.ascii_lowercase + string.digits
_MODULE_CHARS = _ALNUM + "_."


def _meaningful_lines(text: str) -> str:
    if "\n" not in text:
        return _unwrapped([text])
    start = 0
    after_exception = False
    traceback = text.rfind(_PYTHON_TRACEBACK)
    frames = text.find("\n", traceback) if traceback >= 0 else -1
    if frames >= 0:
        found = _EXCEPTION_LINE.search(text, frames)
        if found:
            start = found.start() + 1
            after_exception = True
    if not after_exception:
        cause = text.rfind(_CAUSED_BY)
        if cause >= 0:
            start = cause + len(_CAUSED_BY)
    kept: list[str] = []
    lines = text[start : start + 2 * MAX_SCAN_CHARS].split("\n", 3 * MAX_LINES)[: 3 * MAX_LINES]
    # One line is kept whatever its kind: with nothing else, noise is still told apart.
    for line in lines if len(lines) > 1 else ():
        kind = _LINE_KIND.match(line)
        if kind is not None:
            if kind.lastgroup == "stop" or (kind.lastgroup == "log" and after_exception):
                break
            if kind.lastgroup == "skip":
                continue
        kept.append(line)
        if len(kept) == MAX_LINES:
            break
    if not kept:
        # Nothing but noise: the first line that is not blank still tells one noise from another.
        kept = [next((line for line in lines if line.strip()), text)]
    return _unwrapped(kept)


def _unwrapped(kept: list[str]) -> str:
    # Raw lines, not yet folded: these patterns take any whitespace (a line break too) for a
    # space, as they find it once the lines are folded into one.
    text = "\n".join(kept)[:MAX_SCAN_CHARS]
    if "[" in text[:3]:
        text = _AIRFLOW_LOG_PREFIX.sub("", text, count=1)
    if _MAY_BE_WRAPPED.match(text):
        text = text[_after_wrappers(text) :]
    if "<TaskInstance" in text or "<DagRun" in text:
        text = _TASK_INSTANCE.sub("<taskinstance>", text)
    return _rewrite_runs(text, _QUALIFIED_CLASS, _MODULE_CHARS, "", _without_module_path)


def _after_wrappers(text: str) -> int:
    """Where the text starts after its chain of wrappers; a text of nothing but wrappers keeps
    its last one (``KeyError:`` says more than nothing)."""
    before_last = end = 0
    while (wrapper := _WRAPPER.match(text, end)) and wrapper.end() > end:
        before_last, end = end, wrapper.end()
    return end if text[end:].strip() else before_last


def _without_module_path(text: str, start: int, hit: re.Match[str], end: int) -> Rewrite:
    starts_a_name = text[start : start + 1].isalpha() or text[start : start + 1] == "_"
    if start == hit.start() or not starts_a_name or (start and text[start - 1].isalnum()):
        return None
    return ""


# --- 3. what identifies one occurrence, on folded lower-case text ---
#
# Python's re scans a pattern fast only when it starts with a literal or a character class, and
# a scan per rule over every message would cost several times the budget (bench/signatures.py).
# So each rule starts at a rare character (a digit, "/", ":", a quote), is skipped when its
# character is absent, and names that must be read leftwards from that character (hosts,
# relative paths, ids) are found by _rewrite_runs.

# A URL, found from its "://" and read back over its scheme (jdbc:postgresql:// too).
_URL = re.compile(r"://[^\s'\"`<>()\[\]{},;]*")
_SCHEME_CHARS = _ALNUM + "+.-:"
_EMAIL = re.compile(r"[\w.+-]+@[a-z0-9-]+(?:\.[a-z0-9-]+)+")
# A UUID (and a Snowflake query id), found from its first "-", read back over 8 hex digits.
_UUID = re.compile(r"-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}(?![0-9a-z<])")
_HEX = string.digits + "abcdef"
# Dates and times, found from their first "-" or ":" and read back over their leading digits.
_DATE = re.compile(
    r"-\d\d-\d\d(?:(?:t|,? )\d\d?:\d\d(?::\d\d(?:[.,]\d+)?)?)?"
    r"(?:z(?![a-z])|[+-]\d\d:?\d\d| ?utc(?![a-z]))?(?!\d)"
)
_TIME = re.compile(r":\d\d:\d\d(?:[.,]\d+)?(?:z(?![a-z])| ?utc(?![a-z]))?(?!\d)")
_IPV4 = re.compile(r"\.\d{1,3}\.\d{1,3}\.\d{1,3}(?::\d+)?(?!\d|\.\d)")
# An IPv6 address, found from its first ":", read back over its first group.
_IPV6 = re.compile(r":(?:[0-9a-f]{0,4}:){1,6}[0-9a-f]{0,4}(?![\w:<])")
# A host name, found from the dot before its last label (then looked up in _TOP_LEVEL_DOMAINS:
# one pattern for every domain is slower at each dot than a set is at the few last labels).
_TOP_LEVEL_DOMAINS = frozenset(
    {"com", "net", "org", "io", "co", "ai", "app", "dev", "cloud", "biz", "info", "uk"}
    | {"internal", "local", "localdomain", "lan", "corp", "intra", "svc"}
)
_FIRST_LETTERS = "".join(sorted({domain[0] for domain in _TOP_LEVEL_DOMAINS}))
_LAST_LABEL = re.compile(rf"\.([{_FIRST_LETTERS}][a-z]{{1,10}})(?![\w<])(?![.-][\w<])(?::\d+)?")
_HOST_CHARS = _ALNUM + ".-"
# With "<" and ">": a path read again after its numbers became "<n>" is the same path.
_PATH_CHARS = _ALNUM + "_.@+~-<>"
_SLASH = re.compile(r"/")
_QUERY = re.compile(r"\?[^\s'\"`()]*")
_EXTENSION = re.compile(r"\.[a-z][a-z0-9]{0,7}$")
# Where rules look at a name, a number and a placeholder read alike, so that a name looks the
# same whether its numbers are replaced yet or not.
_NUMBER_OR_PLACEHOLDER = re.compile(r"[0-9]+(?:[.,][0-9]+)*|<[a-z]+>")
_WINDOWS_PATH = re.compile(r"(?<![\w<>])[a-z]:\\[^\s'\"`]+")
# A quoted value: after a colon that does not end an exception's name ("KeyError: 'x'" names
# a key), or after a word that announces a value. Found from the quote, then looked back from.
_VALUE_WORDS = ("value", "string", "date", "timestamp", "boolean", "literal", "parse")


def _quoted_value(quote: str) -> str:
    # The cheap look first (a colon, or the last letter of a value word, before the quote), then
    # the word itself: most quotes in a message fail the first.
    words = "|".join(f"(?<![a-z0-9_<>]{word} {quote})(?<={word} {quote})" for word in _VALUE_WORDS)
    last_letters = "".join(sorted({word[-1] for word in _VALUE_WORDS}))
    excluded = "".join(
        f"(?<!{name}:{quote})(?<!{name}: {quote})" for name in ("error", "exception")
    )
    return (
        f"{quote}(?:(?<=:{quote})|(?<=: {quote})|(?<=[{last_letters}] {quote})(?:{words}))"
        f"{excluded}[^{quote}]*{quote}"
    )


_SINGLE_QUOTED_VALUE = re.compile(_quoted_value("'"))
_DOUBLE_QUOTED_VALUE = re.compile(_quoted_value('"'))
_UNQUOTED_VALUE = re.compile(r"(?<![a-z0-9_<>])value: ?[^\s'\",;)]+")
_KEY_VALUES = re.compile(r"\)=\([^)]*\)")
_HEX_NUMBER = re.compile(r"0(?<![0-9a-z_>]0)x[0-9a-f]+(?![0-9a-z_<])")
# A digit next to a letter: a word that mixes both (an id, a hash) is around it.
_MIXED = re.compile(r"[0-9](?:(?<=[a-z][0-9])|[a-z])")
_HEX_DIGITS = frozenset(_HEX)
_NUMBER = re.compile(r"[0-9](?<![0-9][0-9])[0-9]*(?:[.,][0-9]+)*")
# Codes name the cause: an exit, return, status or HTTP code, a signal number.
_NUMBER_NOT_CODE = re.compile(
    r"[0-9](?<![0-9][0-9])(?<!code [0-9])(?<!code: [0-9])(?<!code=[0-9])(?<!code -[0-9])"
    r"(?<!status [0-9])(?<!status=[0-9])(?<!http [0-9])(?<!http/1.1 [0-9])(?<!http/2 [0-9])"
    r"(?<!signal [0-9])[0-9]*(?:[.,][0-9]+)*"
)


def _replace_occurrences(text: str) -> str:
    for needle, pattern, replacement, left_chars, right_chars in _STEPS:
        if needle in text:
            if isinstance(replacement, str):
                text = pattern.sub(replacement, text)
            else:
                text = _rewrite_runs(text, pattern, left_chars, right_chars, replacement)
    # Joining the pieces between numbers is about twice as fast as sub() when there are many.
    if "code" in text or "status" in text or "http" in text or "signal" in text:
        return "<n>".join(_NUMBER_NOT_CODE.split(text))
    return "<n>".join(_NUMBER.split(text))


_RUN_CHARS = 128
# A rewrite gives the replacement of a run, with where it ends if not where the run does; or
# None to leave the run as it is.
Rewrite = str | tuple[str, int] | None
_RunRewrite = Callable[[str, int, re.Match[str], int], Rewrite]


def _rewrite_runs(
    text: str,
    hint: re.Pattern[str],
    left_chars: str,
    right_chars: str,
    rewrite: _RunRewrite,
) -> str:
    """Rewrite the run of characters around each ``hint``: it extends left over
    ``left_chars`` and right over ``right_chars``; ``rewrite(text, start, hit, end)`` gives its
    replacement, or None to leave it."""
    hit = hint.search(text)
    if hit is None:
        return text
    pieces: list[str] = []
    done = 0
    while hit is not None:
        # A run is read at most _RUN_CHARS each way: longer ones are not names but data.
        left = max(done, hit.start() - _RUN_CHARS)
        start = left + len(text[left : hit.start()].rstrip(left_chars))
        end = hit.end()
        if right_chars:
            rest = text[end : end + _RUN_CHARS]
            end += len(rest) - len(rest.lstrip(right_chars))
        replacement = rewrite(text, start, hit, end)
        if replacement is not None:
            if isinstance(replacement, tuple):
                replacement, end = replacement
            pieces += (text[done:start], replacement)
            done = end
        hit = hint.search(text, max(hit.end(), done))
    if not pieces:
        return text
    pieces.append(text[done:])
    return "".join(pieces)


def _host(text: str, start: int, hit: re.Match[str], end: int) -> Rewrite:
    if hit.group(1) not in _TOP_LEVEL_DOMAINS or not text[start : hit.start()].lstrip(".-"):
        return None
    return "<host>"


def _path(text: str, start: int, hit: re.Match[str], end: int) -> Rewrite:
    token = text[start:end].rstrip(".")  # a full stop after a path ends the sentence
    end = start + len(token)
    if start == hit.start():
        if token.count("/") < 2 or token[1:2] == "/":
            return None
        query = _QUERY.match(text, end)
        return ("<path>", query.end() if query else end)
    last = _NUMBER_OR_PLACEHOLDER.sub("0", token.rpartition("/")[2])
    if token.count("/") >= 2 or _EXTENSION.search(last):
        return ("<path>", end)
    return None


def _id_or_hash(text: str, start: int, hit: re.Match[str], end: int) -> Rewrite:
    token = text[start:end]
    if len(token) >= 8 and _HEX_DIGITS.issuperset(token):
        return "<hex>"
    # Not a word with a version or a size after it: urllib3, python3, sha256.
    if len(token) >= 6 and not token.rstrip(string.digits).isalpha():
        return "<id>"
    return None


def _read_back(fewest: int, most: int, placeholder: str, *, after: str = "") -> _RunRewrite:
    """A rewrite for a number read back from its hint: ``fewest`` to ``most`` digits, not part
    of a word or of a longer dotted or colon-separated number (``after`` may precede it)."""

    def rewrite(text: str, start: int, hit: re.Match[str], end: int) -> Rewrite:
        before = text[start - 1] if start else " "
        if not fewest <= hit.start() - start <= most:
            return None
        if (before.isalnum() or before in "._:>") and before not in after:
            return None
        return placeholder

    return rewrite


def _url(text: str, start: int, hit: re.Match[str], end: int) -> Rewrite:
    scheme = text[start : hit.start()].lstrip("+.-:" + string.digits)
    return "<url>" if scheme else None


def _ipv6(text: str, start: int, hit: re.Match[str], end: int) -> Rewrite:
    before = text[start - 1] if start else " "
    address = text[start:end]
    if before.isalnum() or before in "_:.>" or not any(c.isdigit() for c in address):
        return None
    return "<host>"


# In order: (a substring the rule needs, its pattern, a replacement or a rewrite of the runs
# around the pattern's hits, the characters such a run extends over to the left and right).
_STEPS: tuple[tuple[str, re.Pattern[str], str | _RunRewrite, str, str], ...] = (
    ("://", _URL, _url, _SCHEME_CHARS, ""),
    ("@", _EMAIL, "<email>", "", ""),
    ("-", _UUID, _read_back(8, 8, "<uuid>"), _HEX, ""),
    # Airflow's run ids put a date after "__": scheduled__2024-05-01T02:00:00+00:00.
    ("-", _DATE, _read_back(4, 4, "<ts>", after="_"), string.digits, ""),
    (":", _TIME, _read_back(1, 2, "<ts>"), string.digits, ""),
    (".", _IPV4, _read_back(1, 3, "<host>"), string.digits, ""),
    (":", _IPV6, _ipv6, _HEX, ""),
    (".", _LAST_LABEL, _host, _HOST_CHARS, ""),
    (")=(", _KEY_VALUES, ")=(<value>)", "", ""),
    ("0x", _HEX_NUMBER, "<hex>", "", ""),
    ("", _MIXED, _id_or_hash, _ALNUM, _ALNUM),
    # Paths after the ids: what they are read by (how many slashes, an extension) no longer
    # changes; quoted values after both: the word before a colon ("error") no longer does.
    ("/", _SLASH, _path, _PATH_CHARS, _PATH_CHARS + "/"),
    (":\\", _WINDOWS_PATH, "<path>", "", ""),
    ("'", _SINGLE_QUOTED_VALUE, "'<str>'", "", ""),
    ('"', _DOUBLE_QUOTED_VALUE, '"<str>"', "", ""),
    # No quotes around this one: a quote that was not there could pair with another.
    ("value:", _UNQUOTED_VALUE, "value: <str>", "", ""),
)


# --- 4. the cut ---


def _cut(text: str) -> str:
    space = text.rfind(" ", 0, MAX_NORMALISED_CHARS + 1)
    return text[:space] if space > 0 else text[:MAX_NORMALISED_CHARS]
