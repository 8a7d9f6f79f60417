from django.db import models

from cdpapp.crypto import decrypt, encrypt


class Destination(models.Model):
    """A tool that receives profiles (webhook, email, ad audience, file). Every send goes through
    privacy.services.enforcement, which checks consent for `purpose` and fits the payload."""

    class Kind(models.TextChoices):
        WEBHOOK = "webhook", "Webhook"
        EMAIL = "email", "Email service"
        AD_AUDIENCE = "ad_audience", "Ad audience"
        FILE = "file", "File export"

    class PiiPolicy(models.TextChoices):
        DROP = "drop", "Drop fields without consent"
        HASH = "hash", "Send a SHA-256 hash of fields without consent"

    name = models.CharField(max_length=100, unique=True)
    kind = models.CharField(max_length=12, choices=Kind.choices)
    purpose = models.SlugField(
        max_length=50, help_text="The consent purpose every send to this destination needs."
    )
    field_purposes = models.JSONField(
        default=dict,
        blank=True,
        help_text='PII fields and the purpose each needs, e.g. {"phone": "sms"}.',
    )
    pii_policy = models.CharField(max_length=4, choices=PiiPolicy.choices, default="drop")
    config_encrypted = models.TextField(blank=True)  # credentials and endpoint, Fernet-encrypted
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def config(self) -> dict:
        import orjson

        return orjson.loads(decrypt(self.config_encrypted)) if self.config_encrypted else {}

    def set_config(self, config: dict) -> None:
        import orjson

        self.config_encrypted = encrypt(orjson.dumps(config).decode())
