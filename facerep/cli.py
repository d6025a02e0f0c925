"""`facerep <stage> --params F --set a.b=c`: the command line of every stage (DESIGN section 2).

Exit status: 0 on success, 2 for bad parameters or unusable input (one line on stderr naming the
key, file or item), 1 for any other failure. Every value that came from the user (parameters, paths,
error messages quoting them) is printed escaped: Rich reads square brackets as markup and drops them.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from facerep.errors import InputError
from facerep.params import Params, default_params_yaml, dump_params, load_params
from facerep.stages import STAGES, StageResult

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)
params_app = typer.Typer(add_completion=False, no_args_is_help=True, help="Inspect parameters.")
app.add_typer(params_app, name="params")

console = Console()
err_console = Console(stderr=True)

ParamsOpt = Annotated[
    Path | None, typer.Option("--params", "-p", help="parameter file (default: pipeline_params.yaml)")
]
SetOpt = Annotated[
    list[str] | None, typer.Option("--set", "-s", help="override, e.g. --set synth.faces=100 (YAML value)")
]


def guarded(fn: Callable[[], None]) -> None:
    """Run `fn`, mapping facerep's input errors to exit 2 and anything else to exit 1, one line each."""
    try:
        fn()
    except InputError as exc:
        err_console.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None
    except KeyboardInterrupt:
        err_console.print("interrupted")
        raise typer.Exit(130) from None
    except typer.Exit:
        raise
    except Exception as exc:
        err_console.print(
            f"[red]failed:[/red] {type(exc).__name__}: {escape(str(exc))}", highlight=False, soft_wrap=True
        )
        if os.environ.get("FACEREP_TRACEBACK"):  # the full traceback, for bug reports
            raise
        raise typer.Exit(1) from None


def print_result(stage: str, result: StageResult) -> None:
    """A closing summary table of a stage's metrics and outputs."""
    table = Table(title=f"{stage}: done", show_header=True)
    table.add_column("metric")
    table.add_column("value", justify="right")
    for k, v in result.metrics.items():
        table.add_row(escape(k), f"{v:.4g}" if isinstance(v, float) else escape(str(v)))
    console.print(table)
    for out in result.outputs:
        console.print(f"  wrote {out}", markup=False)


def run_cli_stage(stage: str, params_file: Path | None, sets: list[str] | None) -> None:
    """Load parameters, run one stage through the registry (its one progress line with its time),
    write its DVC metrics file when it is a run of the DVC pipeline, print its summary."""
    from facerep.pipeline import dvc_run
    from facerep.progress import stage_line
    from facerep.stages import run_stage, write_metrics

    def go() -> None:
        params = load_params(params_file, sets)
        with stage_line(stage):
            result = run_stage(stage, params)
        if dvc_run(params):
            write_metrics(params, stage, result)
        print_result(stage, result)

    guarded(go)


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        typer.echo(f"facerep {version('facerep')}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="print the version and exit")
    ] = False,
) -> None:
    """facerep: from unlabeled face images to a universal facial representation."""


def _make_stage_command(stage: str) -> Callable[..., None]:
    def command(params: ParamsOpt = None, set_: SetOpt = None) -> None:
        run_cli_stage(stage, params, set_)

    command.__doc__ = f"Run the {stage} stage."
    return command


synth_app = typer.Typer(add_completion=False, help="SynthFaces: the built-in procedural face world.")
app.add_typer(synth_app, name="synth")


@synth_app.callback(invoke_without_command=True)
def synth(ctx: typer.Context, params: ParamsOpt = None, set_: SetOpt = None) -> None:
    """Render SynthFaces faces, scenes and videos under paths.synth."""
    if ctx.invoked_subcommand is None:
        run_cli_stage("synth", params, set_)


@synth_app.command("preview")
def synth_preview(
    params: ParamsOpt = None,
    set_: SetOpt = None,
    out: Annotated[Path | None, typer.Option(help="PNG path (default: <paths.synth>/preview.png)")] = None,
    count: Annotated[int, typer.Option(help="faces on the sheet")] = 48,
) -> None:
    """Write a contact sheet of SynthFaces samples with landmarks and labels drawn."""

    def go() -> None:
        from facerep.synth.preview import write_contact_sheet

        p = load_params(params, set_)
        path = write_contact_sheet(p, out, count)
        console.print(f"wrote {path}", markup=False)

    guarded(go)


for _stage in STAGES:
    if _stage != "synth":
        app.command(_stage, help=f"Run the {_stage} stage.")(_make_stage_command(_stage))


@app.command("demo")
def demo(params: ParamsOpt = None, set_: SetOpt = None) -> None:
    """Run the whole pipeline on the built-in default data (SynthFaces), offline; in a DVC project,
    record it in dvc.lock."""

    def go() -> None:
        from facerep.demo import run_demo
        from facerep.pipeline import is_dvc_project, matches_params_file

        loaded = load_params(params, set_)
        record = is_dvc_project() and matches_params_file(loaded)
        if is_dvc_project() and not record:
            err_console.print(
                "note: a demo with other parameters than pipeline_params.yaml is not recorded in dvc.lock"
            )
        run_demo(loaded, console, record_dvc=record)

    guarded(go)


@params_app.command("show")
def params_show(params: ParamsOpt = None, set_: SetOpt = None) -> None:
    """Print the resolved parameters as YAML."""

    def go() -> None:
        p: Params = load_params(params, set_)
        typer.echo(dump_params(p), nl=False)

    guarded(go)


@params_app.command("defaults")
def params_defaults() -> None:
    """Print every parameter's default as commented YAML, generated from the parameter models
    (`facerep params defaults > pipeline_params.yaml` regenerates the shipped file)."""
    guarded(lambda: typer.echo(default_params_yaml(), nl=False))


def main() -> None:
    """Entry point for `python -m facerep`."""
    app()
