"""Value types with their allowed ranges, shared by the scenario and event schemas."""

from typing import Annotated

from pydantic import Field

Unit = Annotated[float, Field(ge=0.0, le=1.0)]  # a share, probability or index in [0, 1]
Signed = Annotated[float, Field(ge=-1.0, le=1.0)]  # an opinion or relation in [-1, 1]
NonNeg = Annotated[float, Field(ge=0.0)]
Positive = Annotated[float, Field(gt=0.0)]
