from django.db import migrations, models


def trained_on_the_encoder(apps, schema_editor):
    """Routers trained before the static embedding existed were trained on the full encoder: they
    keep deciding (and retraining) with it until someone chooses otherwise."""
    Router = apps.get_model("routing", "Router")
    for router in Router.objects.filter(state__isnull=False):
        router.embedding = "minilm"
        router.state = {**router.state, "embedding": "minilm"}
        router.save(update_fields=["embedding", "state"])


class Migration(migrations.Migration):
    dependencies = [
        ("routing", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="router",
            name="embedding",
            field=models.CharField(
                choices=[("static", "static"), ("minilm", "minilm")],
                default="static",
                help_text="The prompt embedding the next training uses: static (microseconds) or minilm (the full encoder)",
                max_length=20,
            ),
        ),
        migrations.RunPython(trained_on_the_encoder, migrations.RunPython.noop),
    ]
