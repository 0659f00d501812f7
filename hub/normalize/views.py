"""Views over the shared tables: links between records, and codes no code table knows.

Views, not tables, so they are always as current as the tables they read and cost nothing
to keep; they use only SQL (no hub macros), so any read-only DuckDB session can query them.
"""

from __future__ import annotations

from schemas.sql import lit_tuple

CODED_COLUMNS = [
    ("filing", "court_code", "code_court", "court_code"),
    ("judgment", "court_code", "code_court", "court_code"),
    ("judgment", "outcome", "code_judgment_outcome", "outcome"),
    ("judgment", "document_type", "code_document_type", "document_type"),
    ("judgment", "loss_reason", "code_loss_reason", "loss_reason"),
    ("enforcement", "court_code", "code_court", "court_code"),
    ("enforcement", "basis_type", "code_enforcement_basis", "basis_type"),
    ("enforcement", "closure_type", "code_enforcement_closure", "closure_type"),
    ("supervision", "domain", "code_supervision_domain", "domain"),
    ("supervision", "focus", "code_supervision_focus", "focus"),
    ("agency_decision", "decision_type", "code_agency_decision_type", "decision_type"),
    ("agency_decision", "performance", "code_performance", "performance"),
    ("referral", "clue_type", "code_clue_type", "clue_type"),
    ("referral", "feedback_result", "code_referral_result", "feedback_result"),
]
"""(table, column, code table, code column): values outside the code table are flagged, not
quarantined, since a court's new outcome wording is still a valid record."""


def code_flags_view() -> str:
    parts = [
        f"SELECT '{t}' AS record_type, record_key, '{c}' AS column_name, CAST({c} AS VARCHAR) AS value "
        f"FROM {t} WHERE {c} IS NOT NULL AND {c} NOT IN (SELECT {cc} FROM {ct})"
        for t, c, ct, cc in CODED_COLUMNS
    ]
    return "CREATE OR REPLACE VIEW code_flags AS\n" + "\nUNION ALL\n".join(parts)


LINKS_VIEW = """
CREATE OR REPLACE VIEW links AS
WITH cases AS (
    SELECT case_no, court_code FROM filing UNION SELECT case_no, court_code FROM judgment
    UNION SELECT case_no, court_code FROM enforcement
), sharing_courts AS (SELECT DISTINCT court_code FROM cases)
SELECT 'supervision' AS record_type, s.record_key, 'target_case_no' AS link, s.target_case_no AS target,
       c.case_no IS NOT NULL AS resolved,
       CASE WHEN c.case_no IS NOT NULL THEN NULL
            WHEN s.target_court_code NOT IN (SELECT court_code FROM sharing_courts)
                THEN 'court ' || s.target_court_code || ' shares no cases with the hub'
            ELSE 'court ' || s.target_court_code || ' has shared no case ' || s.target_case_no END AS why
FROM supervision s LEFT JOIN (SELECT DISTINCT case_no FROM cases) c ON c.case_no = s.target_case_no
WHERE s.target_case_no IS NOT NULL
UNION ALL
SELECT 'supervision', s.record_key, 'follow_up_of', s.follow_up_of, e.doc_no IS NOT NULL,
       CASE WHEN e.doc_no IS NULL THEN 'no measure shared with the hub has document number ' || s.follow_up_of END
FROM supervision s LEFT JOIN (SELECT DISTINCT replace(doc_no, ' ', '') AS doc_no FROM supervision) e
     ON e.doc_no = replace(s.follow_up_of, ' ', '')
WHERE s.follow_up_of IS NOT NULL
UNION ALL
SELECT 'enforcement', e.record_key, 'basis_doc_no', e.basis_doc_no, c.case_no IS NOT NULL,
       CASE WHEN c.case_no IS NOT NULL THEN NULL
            WHEN e.basis_doc_no IS NULL THEN 'no basis document number recorded'
            WHEN NOT regexp_matches(e.basis_doc_no, '^（[0-9]{4}）')
                THEN 'basis is neither a court case number nor an agency decision shared with the hub '
                     '(an arbitration award, a notarized debt, or a decision its agency does not share)'
            ELSE 'basis case ' || e.basis_doc_no || ' is not among the cases shared with the hub' END
FROM enforcement e LEFT JOIN (SELECT DISTINCT case_no FROM filing UNION SELECT case_no FROM judgment
                              UNION SELECT replace(doc_no, ' ', '') FROM agency_decision) c
     ON c.case_no = replace(e.basis_doc_no, ' ', '')
UNION ALL
SELECT 'agency_decision', d.record_key, 'court_case_no', d.court_case_no, c.case_no IS NOT NULL,
       CASE WHEN c.case_no IS NOT NULL THEN NULL
            WHEN NOT regexp_matches(d.court_case_no, '^（[0-9]{4}）') THEN 'not a court case number'
            ELSE 'case ' || d.court_case_no || ' is not among the cases shared with the hub' END
FROM agency_decision d LEFT JOIN (SELECT DISTINCT case_no FROM cases) c ON c.case_no = d.court_case_no
WHERE d.court_case_no IS NOT NULL
UNION ALL
SELECT 'referral', x.record_key, 'related_case_no', x.related_case_no, c.case_no IS NOT NULL,
       CASE WHEN c.case_no IS NOT NULL THEN NULL
            WHEN NOT regexp_matches(x.related_case_no, '^（[0-9]{4}）')
                THEN 'not a court case number (a procuratorate''s or police case, say)'
            ELSE 'case ' || x.related_case_no || ' is not among the cases shared with the hub' END
FROM referral x LEFT JOIN (SELECT DISTINCT case_no FROM cases) c ON c.case_no = x.related_case_no
WHERE x.related_case_no IS NOT NULL
"""

REPORTED_LINKS = ("follow_up_of", "related_case_no")
"""Links listed in ``links`` but gating no extract: a measure followed up, or a clue's case, may
well be another institution's that shares nothing with the hub."""

LINK_RATE_SQL = f"""
SELECT link, count(*) AS links, count(*) FILTER (WHERE resolved) AS resolved,
       coalesce(count(*) FILTER (WHERE resolved) / nullif(count(*), 0), 1.0) AS rate
FROM links WHERE record_type = ? AND link NOT IN {lit_tuple(REPORTED_LINKS)} GROUP BY link
"""


ACKNOWLEDGEMENT_STATUS_VIEW = """
CREATE OR REPLACE VIEW acknowledgement_status AS
WITH signed AS (
  SELECT b.*, a.office IS NOT NULL AS acknowledged, a.applied_at, a.collected_at, a.keyid
  FROM (SELECT office, agreement, bundle_sequence, bundle_sha256, extract, min(published_at) AS published_at
        FROM hub_bundles GROUP BY ALL) b
  LEFT JOIN hub_acknowledgements a
         ON a.office = b.office AND a.bundle_sequence = b.bundle_sequence AND a.bundle_sha256 = b.bundle_sha256
), superseded AS (
  SELECT s.*, CASE WHEN NOT s.acknowledged THEN (
           SELECT min(f.bundle_sequence) FROM signed f
           WHERE f.office = s.office AND f.acknowledged AND f.extract = 'full' AND f.bundle_sequence > s.bundle_sequence)
         END AS superseded_by
  FROM signed s
)
SELECT *, CASE WHEN NOT acknowledged AND superseded_by IS NULL
               THEN date_diff('hour', published_at, CAST(timezone('UTC', now()) AS TIMESTAMP)) END AS hours_waiting
FROM superseded
"""


def all_views() -> list[str]:
    return [code_flags_view(), LINKS_VIEW, ACKNOWLEDGEMENT_STATUS_VIEW]


VIEWS: dict[str, tuple[str, dict[str, tuple[str, str]]]] = {
    "links": ("Every supervision target, follow-up, enforcement basis and agency decision's court case, "
              "resolved to a shared record or not, with why", {
        "record_type": ("记录类型", "supervision, enforcement, agency_decision or referral"),
        "record_key": ("记录键", "the linking record"),
        "link": ("关联字段", "target_case_no, follow_up_of (the measure followed up), basis_doc_no (a case, or an "
                             "agency decision), court_case_no (the 行审 case enforcing a decision) or related_case_no (the case a "
                             "clue came from)"),
        "target": ("关联对象", "the case or document number linked to"),
        "resolved": ("已关联", "a shared record has that number: a case; for follow_up_of a measure; for "
                              "basis_doc_no a case or an agency decision; for court_case_no an enforcement case"),
        "why": ("未关联原因", "why it did not resolve"),
    }),
    "acknowledgement_status": ("Every bundle published, and whether its office signed for it", {
        "office": ("接收部门", "coordination office"),
        "agreement": ("共享协议", "agreement id"),
        "bundle_sequence": ("批次序号", "feed sequence number"),
        "bundle_sha256": ("清单摘要", "sha256 of the signed manifest"),
        "extract": ("抽取方式", "full or incremental"),
        "published_at": ("发布时间", "when the bundle was signed (UTC)"),
        "acknowledged": ("已回执", "the office's signed acknowledgement was collected"),
        "applied_at": ("应用时间", "when the office applied it, by its clock (UTC)"),
        "collected_at": ("收取时间", "when the hub took the acknowledgement in (UTC)"),
        "keyid": ("签名密钥", "the office key that signed"),
        "superseded_by": ("被全量替代", "unacknowledged, but the office signed for this later full snapshot, "
                                        "which holds all it was due"),
        "hours_waiting": ("等待小时", "unacknowledged and not superseded: hours since it was published"),
    }),
    "code_flags": ("Values no code table knows: kept in the record, listed here", {
        "record_type": ("记录类型", "table of the record"),
        "record_key": ("记录键", "the record"),
        "column_name": ("字段", "coded column"),
        "value": ("值", "the unknown value"),
    }),
}
"""Each view: what it is, and its columns (Chinese, English)."""
