import logging

from bot.logs import RedactingFilter, setup_logging

TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw1"


def test_filter_redacts_known_secrets_and_shapes():
    f = RedactingFilter([TOKEN, "nebula-secret-key"])
    line = f.redact(
        f"GET https://api.telegram.org/bot{TOKEN}/getMe nebula-secret-key "
        "user key vc_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789 other 987654321:" + "x" * 35
    )
    assert TOKEN not in line
    assert "nebula-secret-key" not in line
    assert "vc_AbCdEf" not in line
    assert "xxxxxxxxxx" not in line
    assert "/getMe" in line


def test_setup_logging_redacts_messages_args_and_tracebacks(capsys):
    setup_logging("INFO", [TOKEN, "vk-operator-key"])
    log = logging.getLogger("test.redaction")
    log.info("token is %s and key %s", TOKEN, "vk-operator-key")
    try:
        raise RuntimeError(f"failed calling /bot{TOKEN}/sendMessage")
    except RuntimeError:
        log.exception("boom")
    err = capsys.readouterr().err
    assert "token is *** and key ***" in err
    assert TOKEN not in err and "vk-operator-key" not in err
    assert "RuntimeError" in err


def test_control_characters_from_requests_cannot_start_a_line(capsys):
    setup_logging("INFO")
    log = logging.getLogger("test.escaping")
    forged = "/x\n2026-01-01 00:00:00 ERROR api [-]: INJECTED\r\x1b[31m\u2028\x85end"
    log.info("GET %s 404", forged)
    try:
        raise ValueError(f"bad value {forged}")
    except ValueError:
        log.exception("failed on %s", forged)
    err = capsys.readouterr().err
    lines = err.splitlines()
    assert [line for line in lines if "INJECTED" in line and "ERROR api [-]" in line]
    assert not [line for line in lines if line.startswith("2026-01-01")]
    assert "\\n2026-01-01 00:00:00 ERROR api [-]: INJECTED\\r\\x1b[31m\\u2028\\x85end" in err
    assert "\x1b" not in err and "\u2028" not in err
    # A traceback keeps its own line breaks; the exception's message is one escaped line.
    assert "Traceback (most recent call last):" in lines
    assert any(line.startswith("ValueError: bad value /x\\n2026") for line in lines)


def test_chained_exceptions_are_all_shown(capsys):
    setup_logging("INFO")
    log = logging.getLogger("test.chain")
    try:
        try:
            raise KeyError("inner")
        except KeyError as exc:
            raise RuntimeError("outer") from exc
    except RuntimeError:
        log.exception("boom")
    err = capsys.readouterr().err
    assert (
        err.index("KeyError: 'inner'")
        < err.index("direct cause")
        < err.index("RuntimeError: outer")
    )
