"""Parameters of the report stage (`report:` in pipeline_params.yaml)."""

from pydantic import Field

from facerep.paramsbase import StrictModel


class ReportParams(StrictModel):
    """How the finetune results are summarised."""

    title: str = "facerep report"
    significance_std: float = Field(2.0, gt=0, description="a gap counts when larger than this many std")
    baseline: str = Field("scratch", description="the init the others are compared against")
    paper_numbers: bool = Field(True, description="show published numbers where the dataset matches")
