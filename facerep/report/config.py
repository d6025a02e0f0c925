"""Parameters of the report stage (`report:` in pipeline_params.yaml)."""

from facerep.paramsbase import StrictModel


class ReportParams(StrictModel):
    title: str = "facerep report"
