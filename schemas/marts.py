"""The marts' tables as shapes: every column with its Chinese and English meaning, and each
table's natural key (the ``record_key`` of a mart row an office receives).

Declared here, beside the shared tables, so that config validation can check an agreement's
share of a mart table without loading the marts' SQL (``hub.marts`` builds them).
"""

from __future__ import annotations

from dataclasses import dataclass

from schemas.codes import AGENCY_LOSS_OUTCOMES, SETTLED_OUTCOMES, SUPERVISION_FOCUSES
from schemas.tables import TABLES, stored_fields

Columns = dict[str, dict[str, tuple[str, str]]]
"""table -> column -> (Chinese, English), for COMMENT ON and the analyst's reference."""


@dataclass(frozen=True)
class MartTables:
    """The tables one mart builds: their documented columns and natural keys."""

    columns: Columns
    keys: dict[str, tuple[str, ...]]


NONLIT_MEASURES = {"recommendations": "检察建议", "correction_notices": "纠正违法"}
"""Column -> the procuratorate measure it counts: the two that supervise enforcement (a protest
or retrial recommendation targets a ruling, not enforcement: ``other_measures``; 司法建议 is a
court's, not reported here)."""

NONLIT_FOCUSES = {col: (zh, en, kinds) for zh, (col, en, kinds) in SUPERVISION_FOCUSES.items()}
"""Column -> (监督事项 it counts, meaning, the tables it belongs to)."""


REPLY_TRACKING = MartTables(
    columns={
        "mart_replies": {
            "record_key": ("记录键", "the measure's record key in supervision"),
            "doc_no": ("文书编号", "procuratorate document number"),
            "measure": ("监督方式", "抗诉/再审检察建议/检察建议/纠正违法/司法建议"),
            "domain": ("监督领域", "民事/行政/刑事/执行"),
            "focus": ("监督事项", "what the measure is about (应立案而不立案, 滥用终本, …), if the source says"),
            "issuer": ("发出机关", "institution that issued the measure"),
            "source_institution": ("来源机构", "institution whose records carried it"),
            "target_court_code": ("监督对象法院代字", "court code of the target institution"),
            "target_court_name": ("监督对象法院", "name of the target court, from code_court"),
            "target_agency": ("建议对象机关", "agency the measure is addressed to (NULL for a court)"),
            "target_case_no": ("被监督案号", "canonical case number of the target case"),
            "issued_date": ("发出日期", "date issued"),
            "due_date": ("回复期限", "reply deadline: the extended one, else the document's own, else issued_date + "
                         "the default period"),
            "due_date_from": ("期限来源", "extended (agreed later), document (stated on it) or default "
                              "(marts.reply_deadline_days)"),
            "original_due_date": ("原定回复期限", "the deadline before any extension: the document's, else the default"),
            "replied_date": ("回复日期", "date the written reply was received"),
            "reply_result": ("回复结果", "采纳/部分采纳/不采纳"),
            "follow_up_of": ("跟进监督原文书", "the earlier measure this one follows up, if it does"),
            "status": ("回复状态", "pending / replied_on_time / replied_late / overdue, as of as_of"),
            "days_overdue": ("逾期天数", "overdue: as_of - due_date; replied_late: replied_date - due_date; else 0"),
            "as_of": ("统计日", "the day the statuses refer to"),
        },
        "mart_reply_escalation": {
            "target_court_code": ("监督对象法院代字", "court code of the target institution"),
            "target_court_name": ("监督对象法院", "name of the target court"),
            "target_agency": ("建议对象机关", "the target agency, for measures addressed to one"),
            "overdue": ("逾期未回复数", "measures overdue as of as_of"),
            "max_days_overdue": ("最长逾期天数", "longest overdue, in days"),
            "oldest_overdue_doc_no": ("最久逾期文书", "document number of the longest overdue measure"),
            "replied_late": ("逾期回复数", "measures answered after their deadline"),
            "pending": ("未到期数", "measures not yet due"),
            "as_of": ("统计日", "the day the figures refer to"),
        },
        "mart_agency_recommendations": {
            "target_agency": ("建议对象机关", "agency the recommendations were addressed to"),
            "measure": ("监督方式", "检察建议, 司法建议, …"),
            "issued": ("发出数", "measures addressed to the agency"),
            "replied": ("已回复", "answered in writing"),
            "replied_on_time": ("按期回复", "answered by the deadline"),
            "replied_late": ("逾期回复", "answered after the deadline"),
            "pending": ("未到期", "unanswered, not yet due"),
            "overdue": ("逾期未回复", "unanswered and past the deadline"),
            "extended": ("延期", "measures whose deadline was extended"),
            "adopted": ("采纳", "replies that adopted the measure"),
            "partly_adopted": ("部分采纳", "replies that partly adopted it"),
            "not_adopted": ("不采纳", "replies that rejected it"),
            "adoption_rate": ("采纳率", "(adopted + partly adopted) / replies with a result; NULL when none"),
            "as_of": ("统计日", "the day the figures refer to"),
        },
        "mart_follow_up": {
            "record_key": ("记录键", "the measure's record key in supervision"),
            "doc_no": ("文书编号", "the measure rejected, left unanswered, or followed up"),
            "measure": ("监督方式", "its measure type"),
            "source_institution": ("来源机构", "institution that issued it"),
            "target_court_code": ("监督对象法院代字", "target court, if a court"),
            "target_agency": ("建议对象机关", "target agency, if an agency"),
            "target_case_no": ("被监督案号", "target case, if any"),
            "issued_date": ("发出日期", "date issued"),
            "due_date": ("回复期限", "reply deadline, as in mart_replies"),
            "replied_date": ("回复日期", "date answered, if it was"),
            "reply_result": ("回复结果", "采纳/部分采纳/不采纳"),
            "reason": ("跟进原因", "not_adopted (the reply rejected it), unanswered (no reply: overdue, or followed "
                                  "up before its deadline) or other (followed up after another reply)"),
            "follow_up_doc_no": ("跟进文书编号", "the first measure naming this one in follow_up_of"),
            "follow_up_issuer": ("跟进发出机关", "who issued it (often the procuratorate above)"),
            "follow_up_issued_date": ("跟进发出日期", "when"),
            "status": ("跟进状态", "followed_up, or awaiting_follow_up"),
            "days_waiting": ("待跟进天数", "awaiting: as_of - the reply date (or the deadline when unanswered)"),
            "as_of": ("统计日", "the day the statuses refer to"),
        },
    },
    keys={"mart_replies": ("record_key",), "mart_reply_escalation": ("target_court_code", "target_agency"),
          "mart_agency_recommendations": ("target_agency", "measure"), "mart_follow_up": ("record_key",)},
)

NONLIT_STATISTICS = MartTables(
    columns={
        "mart_nonlit_quarterly": {
            "kind": ("类别", "民事 (civil) or 行政 (administrative) non-litigation enforcement"),
            "quarter": ("统计季度", "quarter of issue, e.g. 2024Q3"),
            "quarter_start": ("季度起始日", "first day of the quarter"),
            "quarter_end": ("季度截止日", "last day of the quarter"),
            "counted_to": ("统计截止日", "replies and deadlines counted as of this day: quarter_end, or as_of while the quarter runs"),
            "due_by": ("报送期限", "the 5th of the month after the quarter, when the table is due"),
            "procuratorate": ("检察院", "procuratorate that issued the measures"),
            "measures": ("监督案件数", "non-litigation enforcement supervision measures issued in the quarter"),
            **{col: (zh, f"{zh} measures issued") for col, zh in NONLIT_MEASURES.items()},
            "other_measures": ("其他监督方式", "measures of another type (a protest of a 行审 ruling, say)"),
            **{col: (zh, f"measures about: {en}") for col, (zh, en, _) in NONLIT_FOCUSES.items()},
            "replied": ("已回复", "answered in writing by the quarter's end"),
            "adopted": ("采纳", "replies that adopted the measure"),
            "partly_adopted": ("部分采纳", "replies that partly adopted it"),
            "not_adopted": ("不采纳", "replies that rejected it"),
            "awaiting_reply": ("未回复(未到期)", "unanswered at the quarter's end, not yet due"),
            "overdue": ("逾期未回复", "unanswered at the quarter's end and past the due date"),
            "adoption_rate": ("采纳率", "(adopted + partly adopted) / replied; NULL when nothing was replied"),
        },
    },
    keys={"mart_nonlit_quarterly": ("kind", "quarter", "procuratorate")},
)

PROTEST_OUTCOMES = MartTables(
    columns={
        "mart_protest_outcomes": {
            "record_key": ("记录键", "the measure's record key in supervision"),
            "doc_no": ("文书编号", "the protest or retrial recommendation"),
            "measure": ("监督方式", "抗诉 or 再审检察建议"),
            "source_institution": ("来源机构", "procuratorate that issued it"),
            "target_case_no": ("被监督案号", "the ruling it asks to retry"),
            "target_court_code": ("监督对象法院代字", "court of that ruling"),
            "issued_date": ("发出日期", "date issued"),
            "reply_result": ("回复结果", "the court's reply, if any (a recommendation may be rejected)"),
            "protest_case_no": ("法院抗诉案号", "a protest's case at the court (民抗, 行抗…) filed on the target ruling on "
                                "or after the issue date: the court has it, its ruling to retry not yet"),
            "retrial_case_no": ("再审案号", "the retrial: a 再审 case filed on the target ruling on or after the issue date"),
            "retrial_filing_date": ("再审立案日期", "when it was filed"),
            "retrial_decided_date": ("再审裁判日期", "when it was decided, if it was"),
            "retrial_outcome": ("再审裁判结果", "the retrial judgment's outcome"),
            "result": ("监督结果", "amended (改判/撤销/确认违法), remanded (发回重审), upheld (维持/驳回), settled (调解/撤诉, "
                                  "or a 调解书), other; retrial_pending (filed, undecided), under_review (a protest the court "
                                  "filed as 民抗/行抗…, no retrial yet), not_adopted (the court rejected a retrial "
                                  "recommendation; a protest it must retry), no_retrial (none filed yet)"),
            "as_of": ("统计日", "the day the results refer to"),
        },
        "mart_protest_success": {
            "source_institution": ("来源机构", "procuratorate that issued the measures"),
            "year": ("年度", "year of issue"),
            "measure": ("监督方式", "抗诉 or 再审检察建议"),
            "measures": ("监督数", "measures issued"),
            "retried": ("已再审立案", "measures whose target was filed for retrial"),
            "decided": ("再审已审结", "retrials decided"),
            "amended": ("改判", "retrials that amended the ruling"),
            "remanded": ("发回重审", "retrials that sent the case back"),
            "upheld": ("维持", "retrials that upheld it"),
            "settled": ("调解撤诉", "retrials settled or withdrawn"),
            "not_adopted": ("不采纳", "recommendations the court rejected without retrial"),
            "change_rate": ("改变率", "(amended + remanded) / (amended + remanded + upheld): retrials decided on the merits "
                                    "that changed the ruling; NULL when none"),
            "as_of": ("统计日", "the day the figures refer to"),
        },
    },
    keys={"mart_protest_outcomes": ("record_key",), "mart_protest_success": ("source_institution", "year", "measure")},
)

REFERRALS = MartTables(
    columns={
        "mart_referrals": {
            "record_key": ("记录键", "the referral's record key in referral"),
            "doc_no": ("移送函号", "the referral letter"),
            "clue_type": ("线索类型", "虚假诉讼/拒不执行判决裁定/刑事犯罪/职务违法/其他"),
            "source_institution": ("来源机构", "institution whose records carried it"),
            "sender": ("移送单位", "who referred the clue"),
            "recipient": ("接收单位", "who received it"),
            "related_case_no": ("关联案号", "the case the clue came from"),
            "referred_date": ("移送日期", "date referred"),
            "due_date": ("反馈期限", "feedback deadline, when one was set"),
            "feedback_date": ("反馈日期", "date of the latest feedback"),
            "feedback_result": ("处理结果", "what the recipient did"),
            "status": ("反馈状态", "answered, answered_late (after the deadline), overdue (no final feedback, deadline "
                                  "past), being_verified (only 正在核查 so far), awaiting"),
            "days_waiting": ("待反馈天数", "no final feedback yet: as_of - referred_date"),
            "as_of": ("统计日", "the day the statuses refer to"),
        },
        "mart_referral_feedback": {
            "source_institution": ("来源机构", "institution that referred the clues"),
            "recipient": ("接收单位", "institution they were referred to"),
            "clue_type": ("线索类型", "kind of clue"),
            "referred": ("移送数", "clues referred"),
            "answered": ("已反馈", "with final feedback"),
            "answered_late": ("逾期反馈", "final feedback after the deadline"),
            "overdue": ("逾期未反馈", "no final feedback, deadline past"),
            "awaiting": ("待反馈", "no final feedback, no deadline past"),
            "acted_on": ("已立案或处理", "final feedback that a case was opened or the clue dealt with"),
            "acted_on_rate": ("立案处理率", "acted_on / answered; NULL when none answered"),
            "as_of": ("统计日", "the day the figures refer to"),
        },
    },
    keys={"mart_referrals": ("record_key",), "mart_referral_feedback": ("source_institution", "recipient", "clue_type")},
)

SUPERVISION_WINDOW = MartTables(
    columns={
        "mart_supervision_window": {
            "kind": ("类别", "issued_after_window / window_closing"),
            "record_key": ("记录键", "the measure's record key (issued_after_window) or the judgment's (window_closing)"),
            "doc_no": ("文书编号", "the measure's document number, if one was issued"),
            "measure": ("监督方式", "the measure, if one was issued"),
            "case_no": ("案号", "the ruling's case number"),
            "court_code": ("法院代字", "court of the ruling"),
            "effective_date": ("生效日期", "date the window runs from: the ruling's, or the later ruling rejecting a "
                               "retrial application or the retrial's"),
            "counted_from": ("起算依据", "measure (the date the measure states), retrial (a retrial review's or retrial's "
                             "ruling filed on the target) or ruling (the target's own)"),
            "window_ends": ("监督期限届满日", "effective_date + the window (3 years)"),
            "issued_date": ("发出日期", "date the measure was issued, if one was"),
            "days": ("天数", "issued_after_window: days past the window; window_closing: days left"),
            "as_of": ("统计日", "the day window_closing counts from"),
        },
    },
    keys={"mart_supervision_window": ("kind", "record_key")},
)

ENFORCEMENT_WATCH = MartTables(
    columns={
        "mart_enforcement_watch": {
            "record_key": ("记录键", "the case's record key in enforcement"),
            "case_no": ("案号", "canonical case number"),
            "court_code": ("法院代字", "court code"),
            "court_name": ("法院", "court name, from code_court"),
            "filing_date": ("立案日期", "date the enforcement case was filed"),
            "basis_type": ("执行依据类型", "type of the document enforced"),
            "closure_type": ("结案方式", "how the case was closed, if it was"),
            "closure_date": ("结案日期", "date closed"),
            "amount_due": ("申请执行标的", "amount to enforce, yuan"),
            "amount_executed": ("实际执行到位", "amount executed, yuan"),
            "rule": ("规则", "the rule that flagged the case"),
            "why": ("原因", "what about the case breaks the rule"),
            "as_of": ("统计日", "the day the open-case rules measure to"),
        },
    },
    keys={"mart_enforcement_watch": ("record_key", "rule")},
)

_FIGURES: dict[str, tuple[str, str]] = {
    "cases_filed": ("收案数", "administrative cases filed in the year, every instance"),
    "first_instance_filed": ("一审收案数", "first-instance administrative cases (行初) filed in the year"),
    "decided": ("一审结案数", "first-instance decisions (行初) in the year"),
    "lost": ("一审败诉数", f"first-instance decisions the agency lost ({'/'.join(AGENCY_LOSS_OUTCOMES)}; "
             "never a 调解书)"),
    "loss_rate": ("败诉率", "lost / decided: the first-instance loss rate, the headline figure"),
    "appeal_decided": ("二审结案数", "appeal decisions (行终) in the year"),
    "appeal_lost": ("二审败诉数", "appeal decisions the agency lost (as lost)"),
    "appeal_loss_rate": ("二审败诉率", "appeal_lost / appeal_decided"),
    "head_recorded": ("应诉案件数", "cases heard: decided in the year by a 判决书 or 调解书 (not a ruling), the record "
                      "saying whether the agency head appeared"),
    "head_appeared": ("负责人出庭案件数", "cases heard where the agency head appeared in court"),
    "head_appearance_rate": ("负责人出庭应诉率", "head_appeared / head_recorded, over cases (target 100 %)"),
    "settled": ("调撤数", f"first-instance decisions ending the case by mediation or withdrawal "
                f"({'/'.join(SETTLED_OUTCOMES)}, or a 调解书)"),
    "settlement_rate": ("调撤率", "settled / decided"),
}


ADMIN_LITIGATION = MartTables(
    columns={
        "mart_admin_litigation": {
            "year": ("年度", "calendar year"),
            "agency": ("被诉行政机关", "defendant agency"),
            **_FIGURES,
        },
        "mart_admin_litigation_year": {
            "year": ("年度", "calendar year"),
            "agencies": ("被诉行政机关数", "agencies with a case filed or decided in the year"),
            **_FIGURES,
            "civil_first_instance_filed": ("民事一审收案数", "first-instance civil cases (民初) filed in the year"),
            "population": ("常住人口", "residents of the area (marts.population)"),
            "cases_per_10k": ("万人成讼率", "first-instance civil and administrative cases filed "
                              "(civil_first_instance_filed + first_instance_filed) per 10,000 residents; NULL without a population"),
        },
        "mart_admin_loss_reasons": {
            "year": ("年度", "year decided"),
            "instance": ("审级", "行初 (first instance) or 行终 (appeal)"),
            "loss_reason": ("败诉原因", "why the agencies lost, as the judgment records it; (未载明) when it does not"),
            "lost": ("败诉数", "cases the agencies lost for that reason"),
            "share": ("占比", "lost / all cases lost at that instance in the year"),
        },
    },
    keys={"mart_admin_litigation": ("year", "agency"), "mart_admin_litigation_year": ("year",),
          "mart_admin_loss_reasons": ("year", "instance", "loss_reason")},
)

CLASS_DIVERGENCE = MartTables(
    columns={
        "mart_class_divergence": {
            "cause": ("案由", "cause of action shared by the group"),
            "case_category": ("案件类别", "民事/行政/刑事…"),
            "court_level": ("法院层级", "level of the deciding courts (基层/中级/高级/…)"),
            "cases": ("案件数", "decisions in the group (mediations and withdrawals, and any 调解书, left out)"),
            "courts": ("法院数", "courts that decided them"),
            "outcomes": ("裁判结果分布", "each outcome with its count, most common first"),
            "dominant_outcome": ("主要裁判方向", "the most common direction: an outcome, or 支持（含部分支持） for a claim "
                                 "upheld in whole or in part"),
            "dominant_share": ("主要方向占比", "share of the group going the most common way"),
            "divergence": ("差异度", "1 - dominant_share"),
            "threshold": ("阈值", "marts.class_case_divergence_threshold when the mart was built"),
            "why": ("原因", "why the group was flagged"),
        },
    },
    keys={"mart_class_divergence": ("cause", "case_category", "court_level")},
)

MARTS: tuple[MartTables, ...] = (
    REPLY_TRACKING, NONLIT_STATISTICS, PROTEST_OUTCOMES, REFERRALS, SUPERVISION_WINDOW, ENFORCEMENT_WATCH, ADMIN_LITIGATION, CLASS_DIVERGENCE,
)

MART_TABLES: dict[str, MartTables] = {table: m for m in MARTS for table in m.columns}
"""Mart table -> the shapes of the mart that builds it."""


def shareable_columns(table: str) -> dict[str, tuple[str, str]]:
    """Column -> (Chinese, English) of a table an agreement may share: a shared table's
    stored columns, or a mart table's; empty for any other name."""
    if table in TABLES:
        return {f.name: (f.zh, f.en) for f in stored_fields(table)}
    return MART_TABLES[table].columns[table] if table in MART_TABLES else {}
