"""Shadow comparisons say which call (an agent's step) and what kind of turn the teacher took."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("distillation", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="shadowcomparison",
            name="call_key",
            field=models.CharField(blank=True, default="", max_length=300),
        ),
        migrations.AddField(
            model_name="shadowcomparison",
            name="kind",
            field=models.CharField(
                choices=[("reply", "reply"), ("tool_calls", "tool_calls")], default="reply", max_length=20
            ),
        ),
    ]
