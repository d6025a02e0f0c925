"""Parameters of the report stage (`report:` in pipeline_params.yaml)."""

from pydantic import Field, field_validator

from facerep.paramsbase import StrictModel

FLOOR = "chance"  # the pseudo-init of the finetune stage's chance floor, one per (task, regime)


class ReportParams(StrictModel):
    """How the finetune results are summarised."""

    title: str = Field("facerep report", description="heading of report.md")
    significance_std: float = Field(2.0, gt=0, description="a gap counts when larger than this many std")
    baseline: str = Field("scratch", description="the init the others are compared against")
    paper_numbers: bool = Field(True, description="show published numbers where the dataset matches")

    @field_validator("baseline")
    @classmethod
    def _not_the_floor(cls, value: str) -> str:
        if value == FLOOR:
            raise ValueError(f"{FLOOR!r} is the floor every init is shown against, not a baseline")
        return value
