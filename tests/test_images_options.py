"""Command-line options, the documented ranges, stored defaults and name matching."""

import json

import pytest

from bot.services.image_errors import BadOption, UnknownName
from bot.services.images import (
    ImageRequest,
    ImageSettings,
    check_gif_prompt,
    check_prompt,
    parse_command,
    resolve_name,
)
from bot.texts import Translator
from handlers.errors import render_domain_error


def test_the_example_from_the_issue():
    parsed = parse_command(
        "a fox in snow --model deliberate_v2 --size 768x1024 --steps 25 --cfg 9 --neg blurry "
        '--sampler "Euler a" --lora add_detail:0.8'
    )
    assert parsed.prompt == "a fox in snow"
    assert parsed.overrides == {
        "model": "deliberate_v2",
        "width": 768,
        "height": 1024,
        "steps": 25,
        "cfg_scale": 9,
        "negative_prompt": "blurry",
        "sampler": "Euler a",
        "loras": (("add_detail", 0.8),),
    }


def test_prompt_without_options():
    parsed = parse_command("  a   red fox\nin snow ")
    assert parsed.prompt == "a red fox in snow"
    assert parsed.overrides == {}
    assert not parsed.has_options


def test_multi_word_negative_and_sampler_run_to_the_next_option():
    parsed = parse_command("a cat --neg blurry, low quality --sampler DPM++ 2M Karras --steps 20")
    assert parsed.overrides["negative_prompt"] == "blurry, low quality"
    assert parsed.overrides["sampler"] == "DPM++ 2M Karras"
    assert parsed.overrides["steps"] == 20


def test_words_after_a_one_word_option_belong_to_the_prompt():
    parsed = parse_command("--steps 20 a fox in snow --size portrait at dawn")
    assert parsed.prompt == "a fox in snow at dawn"
    assert parsed.overrides == {"steps": 20, "width": 768, "height": 1024}


def test_quoted_values_and_equals_sign_and_phone_dashes():
    parsed = parse_command("a fox —steps=12 –cfg 3 --sampler «Euler a» in snow --neg 'bad hands'")
    assert parsed.prompt == "a fox in snow"
    assert parsed.overrides == {
        "steps": 12,
        "cfg_scale": 3,
        "sampler": "Euler a",
        "negative_prompt": "bad hands",
    }


def test_dash_before_an_ordinary_word_stays_in_the_prompt():
    assert parse_command("кот —пушистый и —рыжий").prompt == "кот —пушистый и —рыжий"
    assert parse_command("a -- b").prompt == "a -- b"


def test_repeated_loras_and_default_weight():
    parsed = parse_command("x --lora a --lora b:0,5 --lora a:-1.5")
    assert parsed.overrides["loras"] == (("a", -1.5), ("b", 0.5))


@pytest.mark.parametrize(
    ("text", "option"),
    [
        ("x --steps 0", "steps"),
        ("x --steps 36", "steps"),
        ("x --steps many", "steps"),
        ("x --steps 2.5", "steps"),
        ("x --cfg 0", "cfg"),
        ("x --cfg 31", "cfg"),
        ("x --cfg 7.5", "cfg"),
        ("x --size 1004x1000", "size"),  # not a multiple of 8
        ("x --size 1032x1024", "size"),
        ("x --size 56x64", "size"),
        ("x --size huge", "size"),
        ("x --width 1025", "width"),
        ("x --height 60", "height"),
        ("x --height 100", "height"),
        ("x --lora add_detail:3", "lora"),
        ("x --lora add_detail:abc", "lora"),
        ("x --lora :1", "lora"),
        ("x --lora a --lora b --lora c --lora d --lora e --lora f", "loras"),
        ("x --model", "model"),
        ("x --sampler", "sampler"),
        ("x --seed 42", "option"),
        ("x --neg " + "n" * 1001, "neg"),
    ],
)
def test_bad_values_name_the_option(text, option):
    with pytest.raises(BadOption) as caught:
        parse_command(text)
    assert caught.value.option == option
    assert caught.value.text_key == f"images.bad.{option}"


def test_limits_are_inclusive():
    parsed = parse_command("x --steps 1 --cfg 30 --size 64x1024")
    assert parsed.overrides == {"steps": 1, "cfg_scale": 30, "width": 64, "height": 1024}
    assert parse_command("x --steps 35 --cfg 1")
    assert (
        len(parse_command("x --lora a --lora b --lora c --lora d --lora e").overrides["loras"]) == 5
    )


def test_prompt_length():
    assert check_prompt("p" * 1000) == "p" * 1000
    with pytest.raises(BadOption) as caught:
        check_prompt("p" * 1001)
    assert caught.value.params["value"] == "1001"
    with pytest.raises(BadOption) as caught:
        check_prompt("   ")
    assert caught.value.option == "prompt_empty"
    with pytest.raises(BadOption):
        check_gif_prompt("q" * 1001)
    assert check_gif_prompt(" a  cat\nplaying ") == "a cat playing"


def test_error_lines_render_in_both_languages_and_escape_the_value():
    with pytest.raises(BadOption) as caught:
        parse_command("x --steps <b>99</b>")
    for lang in ("en", "ru"):
        text = render_domain_error(Translator(lang), caught.value)
        assert "--steps" in text and "1" in text and "35" in text
        assert "&lt;b&gt;99&lt;/b&gt;" in text
        assert "\n" not in text


def test_settings_round_trip_and_lenient_loading():
    settings = ImageSettings(
        model="deliberate_v2",
        sampler="Euler a",
        width=768,
        height=1024,
        steps=25,
        cfg_scale=9,
        negative_prompt="blurry",
        loras=(("add_detail", 0.8),),
    )
    assert ImageSettings.from_json(settings.to_json()) == settings
    assert ImageSettings.from_json("{}") == ImageSettings()
    assert ImageSettings.from_json("not json") == ImageSettings()
    assert ImageSettings.from_json("[1, 2]") == ImageSettings()
    assert ImageSettings.from_json(None) == ImageSettings()
    broken = json.dumps({"steps": 99, "width": 1004, "model": "", "cfg_scale": 8, "loras": "x"})
    assert ImageSettings.from_json(broken) == ImageSettings(cfg_scale=8)
    assert settings.size_preset == "portrait"
    assert ImageSettings(width=512, height=512).size_preset is None


def test_request_payload():
    request = ImageRequest.from_settings("a fox", ImageSettings(), "sdxl-base")
    assert request.payload() == {
        "model": "sdxl-base",
        "prompt": "a fox",
        "steps": 30,
        "width": 1024,
        "height": 1024,
        "cfg_scale": 7,
        "loras": {},
    }
    full = ImageRequest.from_settings(
        "a fox",
        ImageSettings(sampler="Euler", negative_prompt="blurry", loras=(("add_detail", 0.8),)),
        "sdxl-base",
    )
    payload = full.payload()
    assert payload["sampler"] == "Euler"
    assert payload["negative_prompt"] == "blurry"
    assert payload["loras"] == {"add_detail": 0.8}


def test_names_resolve_case_insensitively_or_suggest_the_closest():
    names = ["sdxl-base", "sdxl-refiner", "deliberate_v2", "dreamshaper_8"]
    assert resolve_name("model", "SDXL-Base", names) == "sdxl-base"
    with pytest.raises(UnknownName) as caught:
        resolve_name("model", "deliberate_v3", names)
    assert caught.value.matches[0] == "deliberate_v2"
    assert caught.value.text_key == "images.unknown.model"
    text = render_domain_error(Translator("en"), caught.value)
    assert "<code>deliberate_v2</code>" in text
    with pytest.raises(UnknownName) as caught:
        resolve_name("sampler", "zzzzzz", ["Euler", "Euler a"])
    assert caught.value.matches == []
    assert caught.value.text_key == "images.unknown.sampler_none"
    assert "zzzzzz" in render_domain_error(Translator("ru"), caught.value)
