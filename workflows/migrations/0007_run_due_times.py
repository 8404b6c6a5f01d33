from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("workflows", "0006_run_request_hash"),
    ]

    operations = [
        migrations.AddField(
            model_name="run",
            name="timeout_at",
            field=models.DateTimeField(blank=True, db_index=True, null=True),
        ),
        migrations.AddField(
            model_name="run",
            name="callback_next_attempt",
            field=models.PositiveIntegerField(default=0, help_text="0: no delivery pending"),
        ),
        migrations.AddField(
            model_name="run",
            name="callback_due_at",
            field=models.DateTimeField(blank=True, db_index=True, null=True),
        ),
    ]
