from django.db import migrations, models


def mark_evaluation_runs(apps, schema_editor):
    """Evaluation runs and every run below them, one level of children per UPDATE."""
    Run = apps.get_model("workflows", "Run")
    marked = Run.objects.filter(trigger="evaluation").update(for_evaluation=True)
    while marked:
        marked = Run.objects.filter(parent_run__for_evaluation=True, for_evaluation=False).update(for_evaluation=True)


class Migration(migrations.Migration):
    dependencies = [
        ("workflows", "0013_run_trigger_evaluation"),
    ]

    operations = [
        migrations.AddField(
            model_name="run",
            name="for_evaluation",
            field=models.BooleanField(default=False),
        ),
        migrations.RunPython(mark_evaluation_runs, migrations.RunPython.noop),
    ]
