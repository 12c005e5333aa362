"""The fictional company behind the example systems: Larkspur Labs, its products, their error codes and
the one fix support gives for each problem.

Every ticket, log line and knowledge-base article is written from this file, so the three systems agree
with each other, and the same problem always gets the same fix: that consistency is what a fine-tuned
model can learn and a base model cannot know. Nothing here is personal data.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Final, NamedTuple

COMPANY: Final = "Larkspur Labs"
SUPPORT_TEAM: Final = "Larkspur Support"


@dataclass(frozen=True, slots=True)
class Product:
    name: str
    slug: str
    what: str  # one line, for articles


@dataclass(frozen=True, slots=True)
class Issue:
    """One known problem: its code, how customers describe it, and the canonical fix."""

    code: str
    product: str
    title: str
    symptoms: tuple[str, ...]  # first-person descriptions, each a full sentence
    cause: str
    fix: str  # the answer support gives, word for word

    @property
    def slug(self) -> str:
        return self.code.lower()


PRODUCTS: Final = (
    Product("Nimbus Hub", "nimbus-hub", "the Larkspur smart-home hub that pairs sensors, plugs and lights"),
    Product("Quill Sync", "quill-sync", "the Larkspur note-taking app that syncs notebooks across devices"),
    Product("Aster Pay", "aster-pay", "the Larkspur card terminal and payments API for small shops"),
    Product("Tandem Mesh", "tandem-mesh", "the Larkspur mesh Wi-Fi system of a base station and satellites"),
)

ISSUES: Final = (
    # --- Nimbus Hub ------------------------------------------------------------------------------
    Issue(
        "NH-217",
        "Nimbus Hub",
        "Nimbus Hub shows error NH-217 and blinks amber",
        (
            "My Nimbus Hub shows error NH-217 and the ring keeps blinking amber.",
            "The Nimbus app says NH-217 and none of my lights respond anymore.",
            "After the power cut the hub is stuck on NH-217 with an amber light.",
        ),
        "The hub lost its Zigbee network key, usually after a power cut during a firmware update.",
        "Error NH-217 means the hub lost its Zigbee network key. Hold the Pair button on the back of the "
        "Nimbus Hub for 10 seconds until the ring turns purple, then open the Nimbus app and choose "
        "Settings > Hub > Restore network. Your devices reconnect within 5 minutes; you do not need to "
        "pair them again.",
    ),
    Issue(
        "NH-402",
        "Nimbus Hub",
        "Nimbus Hub cannot reach the cloud (NH-402)",
        (
            "The Nimbus Hub is offline in the app and the event log shows NH-402.",
            "I get NH-402 whenever I try to control the house from outside my home network.",
            "Remote access stopped working and the hub reports NH-402.",
        ),
        "The hub cannot open its secure connection to the Larkspur cloud, almost always because the "
        "router blocks outbound port 8883.",
        "NH-402 means the hub cannot reach the Larkspur cloud. Allow outbound TCP port 8883 on your "
        "router (it is often blocked by 'IoT protection' settings), then unplug the hub for 30 seconds "
        "and plug it back in. The status ring turns solid white when the cloud connection is back.",
    ),
    Issue(
        "NH-509",
        "Nimbus Hub",
        "Nimbus sensors drain their batteries (NH-509)",
        (
            "My Nimbus door sensors need new batteries every two weeks and the app warns NH-509.",
            "The motion sensor battery went from 100% to 10% in a few days, with warning NH-509.",
            "All my Nimbus sensors show NH-509 low battery even with fresh batteries.",
        ),
        "Sensors on firmware older than 3.4 poll the hub every second instead of every minute.",
        "Warning NH-509 comes from sensors on firmware older than 3.4, which poll the hub too often. In "
        "the Nimbus app open Devices, select each sensor and tap Update firmware; keep the sensor within "
        "3 metres of the hub during the update. After updating, a CR2032 battery lasts about 18 months.",
    ),
    Issue(
        "NH-630",
        "Nimbus Hub",
        "Nimbus automations run at the wrong time (NH-630)",
        (
            "My Nimbus automations fire an hour late and the log shows NH-630.",
            "Since the clocks changed, my morning routine runs at the wrong time and I see NH-630.",
            "The sunset automation switches the lights on in the middle of the afternoon, code NH-630.",
        ),
        "The hub's time zone no longer matches the location of the home, usually after a move or a "
        "daylight-saving change on older firmware.",
        "NH-630 means the hub's time zone does not match your home's location. In the Nimbus app go to "
        "Settings > Home > Location, confirm the address, and turn on Automatic time zone. Then choose "
        "Settings > Hub > Resync clock; automations use the corrected time from the next trigger.",
    ),
    Issue(
        "NH-745",
        "Nimbus Hub",
        "A Nimbus device cannot be paired (NH-745)",
        (
            "I cannot add my new Nimbus smart plug, the app fails with NH-745.",
            "Pairing a bulb with the Nimbus Hub times out with NH-745 every time.",
            "The hub refuses new devices and shows NH-745 during pairing.",
        ),
        "The hub already holds its limit of 64 devices, or the new device still belongs to another hub.",
        "NH-745 means the hub cannot accept the device. A Nimbus Hub holds at most 64 devices, so remove "
        "unused ones under Devices > Edit. If the device was used with another hub, factory-reset it "
        "first (for plugs and bulbs: switch it on and off 5 times), then start pairing again within 2 "
        "metres of the hub.",
    ),
    # --- Quill Sync ------------------------------------------------------------------------------
    Issue(
        "QS-101",
        "Quill Sync",
        "Quill Sync stuck on 'Syncing…' (QS-101)",
        (
            "Quill Sync has been stuck on 'Syncing…' for two days and shows QS-101.",
            "My notebooks stopped syncing between laptop and phone, the app says QS-101.",
            "Quill Sync never finishes syncing and the status bar shows error QS-101.",
        ),
        "A note larger than the 50 MB attachment limit blocks the sync queue.",
        "QS-101 means a note is larger than the 50 MB attachment limit and blocks the sync queue. Open "
        "Quill Sync, go to Settings > Sync > Blocked items, and move the listed attachment to Quill Files "
        "or compress it below 50 MB. Sync resumes on its own as soon as the queue is clear.",
    ),
    Issue(
        "QS-240",
        "Quill Sync",
        "Quill Sync keeps asking to sign in (QS-240)",
        (
            "Quill Sync logs me out every few hours with QS-240.",
            "Every morning Quill Sync asks me to sign in again and mentions QS-240.",
            "I keep getting 'session expired, QS-240' on my tablet.",
        ),
        "The device's clock is more than 5 minutes off, so the sign-in token looks expired.",
        "QS-240 means your sign-in token looks expired because the device clock is more than 5 minutes "
        "off. Turn on automatic date and time in your device settings, then sign out of Quill Sync and "
        "sign in again. The new session stays valid for 30 days.",
    ),
    Issue(
        "QS-318",
        "Quill Sync",
        "Quill Sync shows conflicting copies (QS-318)",
        (
            "Quill Sync created two copies of my meeting notes marked QS-318 conflict.",
            "I edited a note on two devices and now I have duplicates with code QS-318.",
            "Half my notebook shows 'conflicted copy' and the log says QS-318.",
        ),
        "The same note was edited on two devices while one of them was offline.",
        "QS-318 marks a note edited on two devices while one was offline; Quill Sync keeps both versions "
        "so nothing is lost. Open the note, choose Compare versions, pick the one to keep and tap Merge. "
        "To avoid it, turn on Settings > Sync > Lock notes while editing.",
    ),
    Issue(
        "QS-422",
        "Quill Sync",
        "Quill Sync search finds nothing (QS-422)",
        (
            "Search in Quill Sync returns no results even for words I can see, and shows QS-422.",
            "Quill Sync search stopped finding my older notes, with a QS-422 banner.",
            "After the update, searching my notebooks gives QS-422 and an empty list.",
        ),
        "The local search index was damaged, usually by an update interrupted halfway.",
        "QS-422 means the local search index is damaged. Go to Settings > Advanced > Rebuild search "
        "index and keep Quill Sync open until the progress bar finishes (about 1 minute per 1,000 "
        "notes). Your notes are not affected; only the index is rebuilt.",
    ),
    Issue(
        "QS-560",
        "Quill Sync",
        "Quill Sync storage is full (QS-560)",
        (
            "Quill Sync refuses to save new notes and says QS-560 storage full.",
            "I cannot upload images to my notes anymore, error QS-560.",
            "Quill Sync warns QS-560 although I deleted lots of notes.",
        ),
        "The account is over its storage plan; deleted notes still count for 30 days in the trash.",
        "QS-560 means your account is over its storage plan. Deleted notes still count for 30 days, so "
        "open Trash and choose Empty trash first; that frees the space within 10 minutes. If you still "
        "need more, upgrade under Account > Plan, where Quill Plus includes 100 GB.",
    ),
    # --- Aster Pay -------------------------------------------------------------------------------
    Issue(
        "AP-120",
        "Aster Pay",
        "Aster Pay terminal declines every card (AP-120)",
        (
            "Our Aster Pay terminal declines every card with AP-120.",
            "Since this morning the card reader shows AP-120 for all customers.",
            "Every payment on the Aster Pay terminal fails with code AP-120.",
        ),
        "The terminal's daily batch was not closed, so it refuses new transactions.",
        "AP-120 means the terminal's daily batch was not closed, so it refuses new payments. On the "
        "terminal press Menu > Reports > Close batch and wait for the receipt to print, then take the "
        "payment again. To avoid it, turn on Automatic close at midnight under Menu > Settings > Batch.",
    ),
    Issue(
        "AP-233",
        "Aster Pay",
        "Aster Pay API rejects requests with 401 (AP-233)",
        (
            "Our checkout calls to the Aster Pay API fail with 401 and error AP-233.",
            "The payments API suddenly answers AP-233 invalid credentials from our web shop.",
            "Since we rotated keys the Aster Pay integration returns AP-233.",
        ),
        "The request uses a test key against the live endpoint, or a key that was rolled.",
        "AP-233 means the API key does not match the endpoint. Live keys start with ak_live_ and only "
        "work on api.asterpay.example, test keys start with ak_test_ and only work on the sandbox. Create "
        "a new key under Dashboard > Developers > API keys, update your integration, and roll the old "
        "key, because a key pasted into a ticket or a log must be treated as leaked.",
    ),
    Issue(
        "AP-305",
        "Aster Pay",
        "Aster Pay payouts are delayed (AP-305)",
        (
            "Our Aster Pay payout is three days late and the dashboard shows AP-305.",
            "We have not received the weekly payout, status AP-305 on hold.",
            "Payouts to our bank account stopped with the note AP-305.",
        ),
        "Payouts pause when the bank account details have not been verified after a change.",
        "AP-305 means payouts are on hold until your bank account is verified. Go to Dashboard > "
        "Settings > Payouts, choose Verify account and enter the two small test deposits we sent (they "
        "arrive within 2 business days). Held payouts are released the next business day after "
        "verification.",
    ),
    Issue(
        "AP-417",
        "Aster Pay",
        "Aster Pay terminal will not connect to Wi-Fi (AP-417)",
        (
            "The Aster Pay terminal cannot join our shop Wi-Fi and shows AP-417.",
            "After we changed the router the card terminal is offline with AP-417.",
            "The terminal keeps saying AP-417 no network although Wi-Fi works for everyone else.",
        ),
        "The terminal only joins 2.4 GHz networks with WPA2, not 5 GHz-only or WPA3-only networks.",
        "AP-417 means the terminal cannot join the network: Aster Pay terminals only use 2.4 GHz Wi-Fi "
        "with WPA2. Enable a 2.4 GHz WPA2 network on your router, then on the terminal go to Menu > "
        "Network > Wi-Fi and select it. As a fallback, the terminal works over the included USB-C "
        "Ethernet adapter.",
    ),
    Issue(
        "AP-588",
        "Aster Pay",
        "Aster Pay refund fails (AP-588)",
        (
            "I tried to refund a customer in Aster Pay and got AP-588.",
            "Refunds from the dashboard fail with AP-588 refund not allowed.",
            "Aster Pay will not let me refund an order from last month, code AP-588.",
        ),
        "Refunds are only possible within 120 days of the payment and up to the original amount.",
        "AP-588 means the refund is outside the rules: Aster Pay refunds are possible within 120 days of "
        "the payment and up to the original amount. For an older payment, send the money back with a "
        "manual bank transfer and record it under Dashboard > Payments > Add note so your books match.",
    ),
    # --- Tandem Mesh -----------------------------------------------------------------------------
    Issue(
        "TM-150",
        "Tandem Mesh",
        "Tandem satellite shows a red light (TM-150)",
        (
            "One Tandem satellite has a solid red light and the app shows TM-150.",
            "The satellite upstairs lost connection to the base station, error TM-150.",
            "My Tandem Mesh satellite is red and the app reports TM-150.",
        ),
        "The satellite is too far from the base station or another satellite to keep a backhaul link.",
        "TM-150 means the satellite lost its link to the base station. Move it halfway between the base "
        "station and the dead zone, no more than two rooms away, and wait until the light turns solid "
        "blue (about 2 minutes). The Tandem app's Placement check shows green when the signal is good "
        "enough.",
    ),
    Issue(
        "TM-260",
        "Tandem Mesh",
        "Tandem Mesh is slow at night (TM-260)",
        (
            "Our Tandem Mesh Wi-Fi slows to a crawl every evening, the app shows TM-260.",
            "Speeds drop badly at night and the Tandem app warns TM-260 congestion.",
            "Video calls stutter after 7 pm and the mesh reports TM-260.",
        ),
        "Automatic channel selection is stuck on a congested channel.",
        "TM-260 means the mesh is stuck on a congested Wi-Fi channel. In the Tandem app open Network > "
        "Advanced and tap Optimize channels; the network drops for about 30 seconds while it moves. "
        "Then turn on Nightly optimization so the channel is rechecked every night at 3 am.",
    ),
    Issue(
        "TM-344",
        "Tandem Mesh",
        "Tandem firmware update fails (TM-344)",
        (
            "The Tandem firmware update fails at 60% with TM-344.",
            "My Tandem base station will not update, error TM-344 every time.",
            "The app offers firmware 5.2 but the install ends with TM-344.",
        ),
        "Updates need every satellite online; an unplugged satellite makes the update roll back.",
        "TM-344 means the update rolled back because a satellite was offline. Make sure every satellite "
        "shows a blue light, then in the Tandem app choose Settings > Firmware > Update all. Do not "
        "unplug anything for 15 minutes; the units restart one after another.",
    ),
    Issue(
        "TM-471",
        "Tandem Mesh",
        "Devices cannot join the Tandem guest network (TM-471)",
        (
            "Guests cannot connect to our Tandem guest network, the app logs TM-471.",
            "Phones see the guest Wi-Fi but fail to join with TM-471.",
            "The Tandem guest network rejects every device, code TM-471.",
        ),
        "The guest network's access schedule has ended or its password was changed without saving.",
        "TM-471 means the guest network is closed by its schedule. In the Tandem app open Guest network, "
        "check Access schedule and set it to Always or extend the end time, then tap Save. Devices can "
        "join again right away; the guest password appears on the same screen.",
    ),
    Issue(
        "TM-590",
        "Tandem Mesh",
        "Tandem parental controls block everything (TM-590)",
        (
            "Tandem parental controls block all websites on my son's laptop, TM-590.",
            "After setting up a profile, one device has no internet at all and shows TM-590.",
            "The kids' tablet cannot open any page, the Tandem app says TM-590.",
        ),
        "A profile's bedtime pause is active, often because the device's profile uses the wrong time zone.",
        "TM-590 means the device's profile is paused by its bedtime rule. In the Tandem app open "
        "Profiles, select the profile and check Bedtime; fix the hours or turn it off, and confirm "
        "Settings > Time zone is correct. The device gets access back within a minute.",
    ),
)

ISSUES_BY_CODE: Final = {issue.code: issue for issue in ISSUES}


_TITLE_WORD: Final = re.compile(r"\b[A-Z][A-Za-z0-9]*[a-z][A-Za-z0-9]*\b")


def vocabulary() -> list[str]:
    """Every capitalised word of the company's own texts (product and menu names, "Larkspur", "Zigbee"),
    lower-cased: none of them is a person's name.

    The sanitizer's name finder takes two capitalised words in a row ("Quill Sync", "Aster Pay") for a
    name, so a pipeline fed with these texts lists the vocabulary as ``names.extra_stop_words``
    (``sanitizer_policy_overrides``); otherwise every product name reaches the model as a pseudonym.
    """
    texts = [COMPANY, SUPPORT_TEAM]
    for product in PRODUCTS:
        texts += [product.name, product.what]
    for issue in ISSUES:
        texts += [issue.title, *issue.symptoms, issue.cause, issue.fix]
    return sorted({word.lower() for text in texts for word in _TITLE_WORD.findall(text)})


def sanitizer_policy_overrides() -> dict[str, Any]:
    """What a sanitizer policy (config/sanitizer.yaml) needs on top for the example data: the company's
    vocabulary as extra stop words of the name finder. Merge it into ``names``."""
    return {"names": {"extra_stop_words": vocabulary()}}


class HeldOutQuestion(NamedTuple):
    """A support question that appears nowhere in the data, answered by what the data teaches.

    A ``(question, expected_answer)`` pair; ``code`` and ``key_phrases`` (words a correct answer
    contains, for a loose check) are looked up from the question.
    """

    question: str
    expected_answer: str

    @property
    def code(self) -> str:
        return _HELD_OUT[self.question][0]

    @property
    def key_phrases(self) -> tuple[str, ...]:
        return _HELD_OUT[self.question][1]


# Phrased unlike any ticket template: no greeting, no pasted personal data, a plain question.
_HELD_OUT: Final[dict[str, tuple[str, tuple[str, ...]]]] = {
    "What does error NH-217 on a Nimbus Hub mean, and how do I fix it?": (
        "NH-217",
        ("Pair button", "10 seconds", "Restore network"),
    ),
    "Why does Quill Sync keep signing me out with QS-240?": (
        "QS-240",
        ("clock", "5 minutes", "sign in again"),
    ),
    "How do I fix error AP-120 on an Aster Pay card terminal?": ("AP-120", ("Close batch",)),
    "What should I do when a Tandem Mesh satellite shows TM-150?": ("TM-150", ("base station", "solid blue")),
}


def held_out_questions(count: int | None = None) -> list[HeldOutQuestion]:
    """Support questions no ticket, log or article contains, with the answers support gives: for a
    base-vs-fine-tuned comparison. All four by default, or the first ``count``."""
    items = list(_HELD_OUT.items())
    if count is not None:
        if not 1 <= count <= len(items):
            raise ValueError(f"count must be between 1 and {len(items)}")
        items = items[:count]
    return [HeldOutQuestion(q, ISSUES_BY_CODE[code].fix) for q, (code, _) in items]
