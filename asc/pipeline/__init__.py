"""The chain of stages (stages/), the plan, the artifact store, execution and the dry run."""
