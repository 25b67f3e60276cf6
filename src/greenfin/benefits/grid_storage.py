"""Energy storage and grid projects, where the inputs allow: the power they save or bring in.

Only what a project measurably adds counts: renewable power that would otherwise be curtailed and
that storage or a transmission line delivers (after its own losses), or grid losses avoided by a
retrofit.  That power is then valued like renewable power (:mod:`renewable_power`); without such a
figure no benefit is claimed.
"""

from __future__ import annotations

from collections.abc import Mapping

from greenfin.benefits.arith import Num
from greenfin.benefits.methodology import Input, Methodology
from greenfin.benefits.renewable_power import formula as power_formula
from greenfin.model.units import Dimension
from greenfin.reference.factors import Convention


def formula(x: Mapping[str, Num], f: Mapping[str, Num], convention: Convention) -> dict[str, Num]:
    return power_formula({"generation": x["energy_delivered"], "own_use": x["losses"]}, f, convention)


METHODOLOGY = Methodology(
    id="storage-grid",
    version="1.0",
    name_zh="储能与电网（减少弃电、降低线损）",
    name_en="storage and grid",
    inputs=(
        Input("energy_delivered", "年消纳的原弃风弃光电量或减少的线损电量", Dimension.ENERGY, "MWh"),
        Input("losses", "储能充放电及输电损耗", Dimension.ENERGY, "MWh", required=False, default=0.0),
    ),
    factors=("coal_rate", "grid", "co2_per_tce"),
    outputs=("coal_saved", "co2_reduced"),
    formula=formula,
    source="绿色信贷项目节能减排量测算指引（2013）新能源与可再生能源利用发电项目（按新增消纳电量计）",
)
