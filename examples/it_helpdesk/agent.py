"""An IT helpdesk: three ordinary ADK `LlmAgent`s, routed by their descriptions alone.

No routes file and no training data: `with_routing` turns each sub-agent's `description`
into its route (zero-shot), classifies every new turn before any model is called, and
sends what it is unsure about to `service_desk`. Offline, each agent answers from its own
how-to notes (the note sharing the most words with the request); give the agents a real
model (`model="gemini-2.5-flash"`) and the same tree runs on Gemini, with the root LLM
asked only when the router is unsure.

    adk run examples/it_helpdesk         adk web examples         python -m examples.it_helpdesk
"""

from __future__ import annotations

import re

from google.adk.agents import LlmAgent

from coordinator import last_user_text, offline_model, text_response, with_routing

# The helpdesk's own notes: what each team tells people first.
NOTES: dict[str, list[str]] = {
    "accounts": [
        "Reset a forgotten password at the self-service portal; the reset link is valid for "
        "15 minutes and the new password must differ from the last five.",
        "An account locks after five wrong passwords and unlocks by itself after 30 minutes; "
        "the portal unlocks it at once after you verify your phone number.",
        "Lost your two-factor device? Use one of your backup codes, then register the new "
        "phone under Security > Two-factor authentication.",
    ],
    "network": [
        "If the VPN will not connect, quit the client, check the clock is right (certificates "
        "fail on a wrong time) and reconnect choosing the nearest gateway.",
        "Wi-Fi that keeps dropping: forget the office network, rejoin with your directory "
        "login, and keep the laptop on power (battery saver turns the radio down).",
        "Shared drives unreachable from home only work over the VPN; connect it first, then "
        "reopen the drive from the file manager.",
    ],
    "service_desk": [
        "Broken laptops, monitors and docking stations are swapped at the service desk; bring "
        "the device and its charger, a loan device is ready the same day.",
        "Software installs are requested from the company portal; licensed software needs "
        "your manager's approval, which the portal asks for.",
        "For anything the other teams do not cover, a service desk engineer replies within "
        "one working day.",
    ],
}

_WORD = re.compile(r"[a-z0-9]+")
_STOP = frozenset({
    "a", "an", "the", "my", "is", "it", "to", "of", "and", "or", "on", "in", "for", "with",
    "me", "can", "cannot", "not", "keeps", "will", "do", "how", "what", "your", "you",
    "this", "that",
})


def _words(text: str) -> set[str]:
    return {w for w in _WORD.findall(text.lower()) if w not in _STOP and len(w) > 2}


def answer_from(notes: list[str], team: str):
    """An offline policy: the note that shares the most words with the request."""

    def policy(req):
        asked = _words(last_user_text(req))
        best = max(notes, key=lambda note: len(asked & _words(note)))
        if not asked & _words(best):
            return text_response(f"The {team} team has no note on that yet; "
                                 "a person from the team will reply by email.")
        return text_response(best)

    return policy


def _team(name: str, description: str) -> LlmAgent:
    return LlmAgent(
        name=name,
        description=description,
        instruction=f"You are the {name.replace('_', ' ')} team of an IT helpdesk. "
        "Answer briefly with the next step the person should take.",
        model=offline_model(answer_from(NOTES[name], name.replace("_", " ")), name=name),
    )


accounts = _team(
    "accounts",
    "Passwords and sign-in: forgotten password, locked account, two-factor authentication "
    "codes, single sign-on login errors.",
)
network = _team(
    "network",
    "Network access: VPN will not connect, Wi-Fi drops, shared drives or intranet sites "
    "unreachable, slow connection.",
)
service_desk = _team(
    "service_desk",
    "Hardware, software installs and anything else IT: broken laptops, monitors, loan "
    "devices, licences.",
)

root_agent = with_routing(
    LlmAgent(
        name="it_helpdesk",
        description="Routes each IT request to the team that handles it.",
        instruction="Transfer the request to the team whose description fits it best.",
        model=offline_model(name="it_helpdesk"),
        sub_agents=[accounts, network, service_desk],
    ),
    fallback="service_desk",
)
