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
