"""The base of every parameter model: unknown keys are errors, never ignored (DESIGN section 2)."""

from typing import Any

from pydantic import BaseModel, ConfigDict, model_validator


class StrictModel(BaseModel):
    """A pydantic model that forbids unknown keys and re-validates on assignment."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    @model_validator(mode="before")
    @classmethod
    def _keep_section_defaults(cls, data: Any) -> Any:
        """A partial sub-section keeps the defaults of its field, not of its class.

        Pydantic builds a sub-model given as a mapping from its class defaults, so `--set
        pretrain.pros.optim.base_lr=1.2` without a parameter file would silently replace ProS's
        paper optimiser (AdamW, clipping at 3, ...) by `OptimParams()`'s. Each given mapping is laid
        over the field's own default here; deeper levels do the same for their fields.
        """
        if not isinstance(data, dict):
            return data
        out = dict(data)
        for name, field in cls.model_fields.items():
            value = out.get(name)
            if not isinstance(value, dict):
                continue
            default = field.get_default(call_default_factory=True)
            if isinstance(default, BaseModel):
                out[name] = {**default.model_dump(exclude_unset=True), **value}
        return out
