"""Tests of check_config_docs.py's table rewriting, on made-up tables and schemas (no binaries)."""

import unittest

import check_config_docs as docs


def setting(env, default=None, help_text="Does a thing"):
    return {"env": env, "flag": None, "default": default, "help": help_text,
            "hides_value": False}


TABLE = """Intro.

| endpoint | scope | answer |
|---|---|---|
| `GET /v1/items/{id}` | `items:read` | not a setting |

| variable | default | meaning |
|---|---|---|
| `ISSUER_LISTEN` | `127.0.0.1:1` | listen address, hand-written |
| `ISSUER_KEYS_DIR` | required | keys |
| `ISSUER_GONE` | `1` | a setting that was removed |
| `DATA_API_A` / `DATA_API_B` | `1` / `2s` | two settings |
| `*_GRACE` | `20s` | both services |

Outro.""".splitlines()

SCHEMAS = {
    "auth-issuer": [setting("ISSUER_LISTEN", "127.0.0.1:8080"), setting("ISSUER_KEYS_DIR"),
                    setting("ISSUER_NEW", "5s", "Longest wait | for Redis"),
                    setting("ISSUER_GRACE", "20s")],
    "data-api": [setting("DATA_API_A", "1"), setting("DATA_API_B", "3s"),
                 setting("DATA_API_GRACE", "20s")],
}


class Rewrite(unittest.TestCase):
    def setUp(self):
        self.lines = docs.rewrite(SCHEMAS, TABLE)
        self.text = "\n".join(self.lines)

    def test_defaults_follow_the_binaries_and_meanings_stay(self):
        self.assertIn("| `ISSUER_LISTEN` | `127.0.0.1:8080` | listen address, hand-written |",
                      self.lines)
        self.assertIn("| `ISSUER_KEYS_DIR` | required | keys |", self.lines)
        self.assertIn("| `DATA_API_A` / `DATA_API_B` | `1` / `3s` | two settings |", self.lines)
        self.assertIn("| `*_GRACE` | `20s` | both services |", self.lines)

    def test_removed_settings_go_and_new_ones_come_after_their_predecessor(self):
        self.assertNotIn("ISSUER_GONE", self.text)
        keys = self.lines.index("| `ISSUER_KEYS_DIR` | required | keys |")
        self.assertEqual(self.lines[keys + 1],
                         "| `ISSUER_NEW` | `5s` | longest wait \\| for Redis |")

    def test_the_rewritten_tables_pass_the_check(self):
        settings = {s["env"]: s["default"] for schema in SCHEMAS.values() for s in schema}
        self.assertEqual(docs.check(settings, self.lines), [])
        self.assertNotEqual(docs.check(settings, TABLE), [])
        self.assertEqual(self.lines[0], "Intro.")
        self.assertIn("| `GET /v1/items/{id}` | `items:read` | not a setting |", self.lines)
        self.assertEqual(self.lines[-1], "Outro.")


if __name__ == "__main__":
    unittest.main()
