"""The marts: what offices and analysts ask of the shared tables, as DuckDB tables.

Each mart is rebuilt whole from the shared tables (``hub.marts.tables.rebuild``), by a
Dagster asset after every refresh and by the daily ``marts_daily`` schedule (statuses move
with the calendar, not only with new data). Some also write report files under
``<home>/reports`` (``hub.marts.report_files``); ``hub.marts.stage`` runs both as a stage.
``MARTS`` lists them in build order: a mart built from another comes after it. The rules each
implements are in docs/domain-rules.md, "Marts"; their tables' shapes in ``schemas.marts``.

    reply_tracking       mart_replies, mart_reply_escalation,          (supervision)
                         mart_agency_recommendations, mart_follow_up
    nonlit_statistics    mart_nonlit_quarterly + quarterly workbook    (mart_replies, enforcement)
    protest_outcomes     mart_protest_outcomes, mart_protest_success   (supervision, filing, judgment)
    referral_feedback    mart_referrals, mart_referral_feedback        (referral)
    supervision_window   mart_supervision_window                       (supervision, filing, judgment)
    enforcement_watch    mart_enforcement_watch                        (enforcement)
    admin_litigation     mart_admin_litigation(_year) + annual chart   (filing, judgment)
    class_divergence     mart_class_divergence                         (filing, judgment)

Mart tables can be shared with offices like the shared tables (an agreement's ``shares``
naming the table); each table's natural key is its rows' ``record_key``.
"""

from hub.marts.registry import MART_OF_TABLE, MARTS, Mart, asset_of, mart
from hub.marts.stage import BuiltMart, build_mart, write_report_files

__all__ = ["MARTS", "MART_OF_TABLE", "BuiltMart", "Mart", "asset_of", "build_mart", "mart", "write_report_files"]
