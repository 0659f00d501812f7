"""Code tables with Chinese labels, loaded into the warehouse as ``code_*`` tables.

Sources: 法〔2015〕137号 / 法〔2018〕335号 (case type codes), GB/T 2260 (court codes of
Inner Mongolia), the coordination agreements (measures, closures; docs/domain-rules.md).
"""

from __future__ import annotations

import pyarrow as pa

from schemas.sql import lit, lit_list

# 类型代字 (法〔2015〕137号, as 法〔2018〕335号 amends it) -> (category 案件类别, instance/procedure 审级或程序)
CASE_TYPES: dict[str, tuple[str, str]] = {
    # 管辖
    "刑辖": ("刑事", "管辖"), "民辖": ("民事", "管辖"), "民辖终": ("民事", "管辖上诉"), "民辖监": ("民事", "管辖监督"),
    "行辖": ("行政", "管辖"), "行辖终": ("行政", "管辖上诉"), "赔辖": ("国家赔偿", "管辖"),
    "赔辖终": ("国家赔偿", "管辖上诉"),
    # 刑事
    "刑初": ("刑事", "一审"), "刑终": ("刑事", "二审"), "刑监": ("刑事", "审判监督"),
    "刑申": ("刑事", "申请再审"), "刑抗": ("刑事", "抗诉"), "刑再": ("刑事", "再审"),
    "刑没": ("刑事", "违法所得没收"), "刑核": ("刑事", "死刑复核"), "刑医": ("刑事", "强制医疗"),
    "刑医解": ("刑事", "解除强制医疗"), "刑医复": ("刑事", "强制医疗复议"), "刑医监": ("刑事", "强制医疗监督"),
    "刑止": ("刑事", "停止执行死刑"), "刑止调": ("刑事", "停止执行死刑调查"), "刑止核": ("刑事", "停止执行死刑复核"),
    "刑更": ("刑事", "减刑假释"), "刑更监": ("刑事", "减刑假释监督"), "刑更备": ("刑事", "减刑假释备案"),
    "刑他": ("刑事", "其他刑事"),
    # 民事
    "民初": ("民事", "一审"), "民终": ("民事", "二审"), "民监": ("民事", "审判监督"),
    "民申": ("民事", "申请再审"), "民抗": ("民事", "抗诉"), "民再": ("民事", "再审"),
    "民撤": ("民事", "第三人撤销之诉"), "民特": ("民事", "特别程序"), "民特监": ("民事", "特别程序监督"),
    "民催": ("民事", "公示催告"), "民督": ("民事", "督促程序"), "民督监": ("民事", "督促程序监督"),
    "民破": ("民事", "破产"), "民算": ("民事", "强制清算"), "民他": ("民事", "其他民事"),
    # 行政, 行政赔偿
    "行初": ("行政", "一审"), "行终": ("行政", "二审"), "行监": ("行政", "审判监督"),
    "行申": ("行政", "申请再审"), "行抗": ("行政", "抗诉"), "行再": ("行政", "再审"),
    "行审": ("非诉行政执行审查", "审查"), "行审复": ("非诉行政执行审查", "复议"), "行他": ("行政", "其他行政"),
    "行赔初": ("行政赔偿", "一审"), "行赔终": ("行政赔偿", "二审"), "行赔监": ("行政赔偿", "审判监督"),
    "行赔申": ("行政赔偿", "申请再审"), "行赔抗": ("行政赔偿", "抗诉"), "行赔再": ("行政赔偿", "再审"),
    # 国家赔偿
    "法赔": ("国家赔偿", "法院赔偿"), "委赔": ("国家赔偿", "赔偿委员会"), "委赔监": ("国家赔偿", "赔偿委员会监督"),
    "委赔提": ("国家赔偿", "赔偿委员会提级"), "委赔再": ("国家赔偿", "赔偿委员会重新审理"), "赔他": ("国家赔偿", "其他赔偿"),
    # 司法救助
    "司救刑": ("司法救助", "刑事"), "司救民": ("司法救助", "民事"), "司救行": ("司法救助", "行政"),
    "司救赔": ("司法救助", "国家赔偿"), "司救执": ("司法救助", "执行"), "司救访": ("司法救助", "涉诉信访"),
    "司救他": ("司法救助", "其他"),
    # 区际司法协助
    "认台": ("区际司法协助", "认可台湾地区裁判"), "认港": ("区际司法协助", "认可香港特区裁判"),
    "认澳": ("区际司法协助", "认可澳门特区裁判"), "认复": ("区际司法协助", "认可复议"), "认他": ("区际司法协助", "其他认可"),
    "请台送": ("区际司法协助", "请求台湾地区送达"), "请港送": ("区际司法协助", "请求香港特区送达"),
    "请澳送": ("区际司法协助", "请求澳门特区送达"), "台请送": ("区际司法协助", "台湾地区请求送达"),
    "港请送": ("区际司法协助", "香港特区请求送达"), "澳请送": ("区际司法协助", "澳门特区请求送达"),
    "请台调": ("区际司法协助", "请求台湾地区调查取证"), "请港调": ("区际司法协助", "请求香港特区调查取证"),
    "请澳调": ("区际司法协助", "请求澳门特区调查取证"), "台请调": ("区际司法协助", "台湾地区请求调查取证"),
    "港请调": ("区际司法协助", "香港特区请求调查取证"), "澳请调": ("区际司法协助", "澳门特区请求调查取证"),
    "请移管": ("区际司法协助", "请求移管被判刑人"), "助移管": ("区际司法协助", "协助移管被判刑人"),
    "请移赃": ("区际司法协助", "请求移交赃款赃物"), "助移赃": ("区际司法协助", "协助移交赃款赃物"),
    # 国际司法协助
    "协外认": ("国际司法协助", "承认外国裁判"), "协他": ("国际司法协助", "其他协助"),
    "协外送": ("国际司法协助", "协助外国送达"), "请外送": ("国际司法协助", "请求外国送达"),
    "协外调": ("国际司法协助", "协助外国调查取证"), "请外调": ("国际司法协助", "请求外国调查取证"),
    "请外移": ("国际司法协助", "请求外国移管被判刑人"), "协外移": ("国际司法协助", "协助外国移管被判刑人"),
    "请外引": ("国际司法协助", "请求外国引渡"), "协外引": ("国际司法协助", "协助外国引渡"),
    # 司法制裁, 非诉保全审查
    "司惩": ("司法制裁", "司法制裁审查"), "司惩复": ("司法制裁", "司法制裁复议"),
    "财保": ("保全", "诉前财产保全"), "行保": ("保全", "行为保全"), "行保复": ("保全", "行为保全复议"),
    "证保": ("保全", "证据保全"),
    # 执行
    "执": ("执行", "执行实施"), "执恢": ("执行", "恢复执行"), "执保": ("执行", "财产保全执行"),
    "执异": ("执行", "执行异议"), "执复": ("执行", "执行复议"), "执监": ("执行", "执行监督"),
    "执协": ("执行", "执行协调"), "执他": ("执行", "其他执行"),
    # 强制清算与破产
    "强清": ("强制清算", "强制清算"), "强清申": ("强制清算", "强制清算申请审查"), "强清终": ("强制清算", "强制清算上诉"),
    "破申": ("破产", "破产申请审查"), "破终": ("破产", "破产上诉"), "破监": ("破产", "破产监督"), "破": ("破产", "破产"),
}

# 专门审判代字: only the Supreme People's Court's IP tribunal has one (法〔2018〕335号); environmental
# and financial cases go to ordinary tribunals or to courts with codes of their own (e.g. 沪74)
TRIBUNALS: dict[str, str] = {"知": "最高人民法院知识产权法庭"}

# 法院代字 -> (name, level). Inner Mongolia (内, not 蒙) plus the courts the demo uses.
COURTS: dict[str, tuple[str, str]] = {
    "最高法": ("最高人民法院", "最高"),
    "内": ("内蒙古自治区高级人民法院", "高级"),
    "内01": ("呼和浩特市中级人民法院", "中级"),
    "内0102": ("呼和浩特市新城区人民法院", "基层"),
    "内0103": ("呼和浩特市回民区人民法院", "基层"),
    "内0104": ("呼和浩特市玉泉区人民法院", "基层"),
    "内0105": ("呼和浩特市赛罕区人民法院", "基层"),
    "内02": ("包头市中级人民法院", "中级"),
    "内0202": ("包头市东河区人民法院", "基层"),
    "内0203": ("包头市昆都仑区人民法院", "基层"),
    "内03": ("乌海市中级人民法院", "中级"),
    "内0302": ("乌海市海勃湾区人民法院", "基层"),
    "内0303": ("乌海市海南区人民法院", "基层"),
    "内0304": ("乌海市乌达区人民法院", "基层"),
    "内04": ("赤峰市中级人民法院", "中级"),
    "内05": ("通辽市中级人民法院", "中级"),
    "内06": ("鄂尔多斯市中级人民法院", "中级"),
    "内0602": ("鄂尔多斯市东胜区人民法院", "基层"),
    "内07": ("呼伦贝尔市中级人民法院", "中级"),
    "内08": ("巴彦淖尔市中级人民法院", "中级"),
    "内09": ("乌兰察布市中级人民法院", "中级"),
    "内22": ("兴安盟中级人民法院", "中级"),
    "内25": ("锡林郭勒盟中级人民法院", "中级"),
    "内29": ("阿拉善盟中级人民法院", "中级"),
    "内71": ("呼和浩特铁路运输中级法院", "专门"),
}

SUPERVISION_MEASURES: dict[str, str] = {
    "抗诉": "protest",
    "再审检察建议": "retrial procuratorial recommendation",
    "检察建议": "procuratorial recommendation",
    "纠正违法": "notice to correct a violation",
    "司法建议": "judicial recommendation",
    "和解通知": "notice that the parties settled while the procuratorate reviewed their application (no reply due)",
}

NO_REPLY_MEASURES = ("和解通知",)
"""Measures that tell the target something and ask for no written reply: left out of reply tracking."""

SUPERVISION_DOMAINS: dict[str, str] = {"民事": "civil", "行政": "administrative", "刑事": "criminal", "执行": "enforcement"}

ENFORCEMENT_BASIS: dict[str, str] = {
    "民事判决书": "civil judgment", "民事调解书": "civil mediation agreement", "民事裁定书": "civil ruling",
    "刑事判决书": "criminal judgment (property part)", "行政判决书": "administrative judgment",
    "仲裁裁决书": "arbitration award", "仲裁调解书": "arbitral mediation statement", "公证债权文书": "notarized debt instrument",
    "行政决定书": "administrative decision (非诉执行)",
}

AGENCY_DECISION_TYPES: dict[str, str] = {
    "行政处罚": "administrative penalty", "行政强制": "administrative compulsion",
    "行政征收": "administrative levy", "行政许可": "administrative licence", "行政确认": "administrative confirmation",
    "其他": "other law-enforcement decision",
}

PERFORMANCE: dict[str, str] = {"已履行": "performed", "部分履行": "partly performed", "未履行": "not performed"}

SUPERVISION_FOCUSES: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "应立案而不立案": ("not_filed", "an application the court should have accepted and did not", ("民事", "行政")),
    "应予执行而不执行": ("not_enforced", "a document the court should have enforced and did not", ("民事", "行政")),
    "不应执行而准予执行": ("wrongly_enforced", "a document the court should not have enforced and did", ("民事", "行政")),
    "超标的执行": ("over_enforcement", "enforcement beyond the amount due", ("民事",)),
    "滥用终本": ("zhongben_abuse", "the current enforcement procedure terminated (终本) without grounds", ("民事", "行政")),
    "消极执行": ("passive_enforcement", "enforcement left idle", ("民事", "行政")),
    "选择性执行": ("selective_enforcement", "enforcement against some and not others", ("民事", "行政")),
    "虚假仲裁": ("false_arbitration", "an arbitral award or mediation statement made to deceive", ("民事",)),
    "违法公证": ("unlawful_notarization", "a notarized debt instrument issued unlawfully", ("民事",)),
    "违法执行和解": ("unlawful_settlement", "an enforcement settlement against the law", ("行政",)),
    "违法裁执分离": ("improper_separation", "a case handled as 裁执分离 (the agency executes) that is not of that type",
                  ("行政",)),
    "裁执分离未执行": ("separation_not_executed", "the court ruled the agency to execute and it did not", ("行政",)),
}
"""What a non-litigation enforcement measure is about (监督事项, the focuses the agreement names) ->
(its column in the quarterly tables, meaning, the tables it belongs to: 民事 and/or 行政)."""

CLUE_TYPES: dict[str, str] = {
    "虚假诉讼": "false litigation", "拒不执行判决裁定": "refusal to execute a judgment or ruling",
    "刑事犯罪": "criminal offence", "职务违法": "official misconduct", "其他": "other clue",
}

REFERRAL_RESULTS: dict[str, str] = {
    "立案": "case opened", "不予立案": "no case opened", "已处理": "dealt with otherwise",
    "移送其他机关": "passed on to another institution", "正在核查": "still being verified",
}
REFERRAL_ACCEPTED = ("立案", "已处理")
"""Feedback that the clue was acted on (a case opened, or dealt with otherwise)."""
REFERRAL_INTERIM = "正在核查"
"""Feedback that is not yet the handling's result: the referral still awaits its final feedback."""

DOCUMENT_TYPES: dict[str, str] = {"判决书": "judgment", "裁定书": "ruling", "调解书": "mediation agreement", "决定书": "decision"}

REPLY_RESULTS: dict[str, str] = {"采纳": "adopted", "部分采纳": "partly adopted", "不采纳": "not adopted"}

ENFORCEMENT_CLOSURES: dict[str, str] = {
    "执行完毕": "fully executed",
    "终结本次执行程序": "current enforcement procedure terminated (终本)",
    "终结执行": "enforcement terminated",
    "不予执行": "enforcement refused",
    "驳回申请": "application dismissed",
    "销案": "case withdrawn",
}

JUDGMENT_OUTCOMES: dict[str, str] = {
    "支持": "claim upheld", "部分支持": "claim partly upheld", "驳回": "claim dismissed",
    "撤销": "decision revoked", "维持": "decision affirmed", "改判": "judgment amended",
    "发回重审": "remanded", "调解": "mediated", "撤诉": "withdrawn", "确认违法": "declared unlawful",
}

AGENCY_LOSS_OUTCOMES = ("支持", "部分支持", "撤销", "确认违法")
"""Outcomes of an administrative case that the defendant agency lost (行政机关败诉): the
plaintiff's claim upheld in whole or part, the administrative act revoked or declared unlawful."""

PROTEST_MEASURES = ("抗诉", "再审检察建议")
"""Measures that ask a court to retry a ruling: their outcome is the retrial's."""

RETRIAL_RESULTS: dict[str, tuple[str, ...]] = {
    "amended": ("改判", "撤销", "确认违法"), "remanded": ("发回重审",), "upheld": ("维持", "驳回"),
}
"""A retrial judgment's result by its outcome: the ruling was changed (amended, or sent back for a
new trial) or upheld; a settled one (``settled_sql``) is neither."""

LOSS_REASONS: dict[str, str] = {
    "主要证据不足": "main evidence insufficient", "适用法律法规错误": "law or regulation misapplied",
    "违反法定程序": "statutory procedure violated", "超越职权": "beyond the agency's powers",
    "滥用职权": "abuse of powers", "明显不当": "manifestly improper", "不履行法定职责": "statutory duty not performed",
}
"""Why an agency loses (行政诉讼法 arts. 70, 72): the grounds on which a court revokes an act or orders a duty done."""

SETTLED_OUTCOMES = ("调解", "撤诉")
"""Outcomes that end a case without a ruling on the merits (调撤: mediated or withdrawn)."""
MEDIATION_DOCUMENT = "调解书"
"""A decision by this document settles its case whatever outcome it records."""


def settled_sql(decision: str) -> str:
    """SQL, TRUE when the judgment row ``decision`` (an alias) settles its case: a settled
    outcome, or a mediation agreement; NULL when neither is known."""
    return (f"(list_contains({lit_list(SETTLED_OUTCOMES)}, {decision}.outcome) "
            f"OR {decision}.document_type = {lit(MEDIATION_DOCUMENT)})")

OUTCOME_DIRECTIONS = {"支持": "支持（含部分支持）", "部分支持": "支持（含部分支持）"}
"""Outcomes that go the same way, under one name, when similar cases are compared: a claim upheld
in whole or in part (every other outcome is its own direction)."""


def code_tables() -> dict[str, pa.Table]:
    """The code tables as Arrow tables, ready to load into DuckDB in bulk."""
    return {
        "code_case_type": pa.table({
            "type_code": list(CASE_TYPES),
            "category": [v[0] for v in CASE_TYPES.values()],
            "procedure": [v[1] for v in CASE_TYPES.values()],
        }),
        "code_court": pa.table({
            "court_code": list(COURTS),
            "name": [v[0] for v in COURTS.values()],
            "level": [v[1] for v in COURTS.values()],
        }),
        "code_tribunal": pa.table({"tribunal_code": list(TRIBUNALS), "name": list(TRIBUNALS.values())}),
        "code_supervision_measure": _labels("measure", SUPERVISION_MEASURES),
        "code_reply_result": _labels("reply_result", REPLY_RESULTS),
        "code_enforcement_closure": _labels("closure_type", ENFORCEMENT_CLOSURES),
        "code_judgment_outcome": _labels("outcome", JUDGMENT_OUTCOMES),
        "code_supervision_domain": _labels("domain", SUPERVISION_DOMAINS),
        "code_enforcement_basis": _labels("basis_type", ENFORCEMENT_BASIS),
        "code_document_type": _labels("document_type", DOCUMENT_TYPES),
        "code_agency_decision_type": _labels("decision_type", AGENCY_DECISION_TYPES),
        "code_performance": _labels("performance", PERFORMANCE),
        "code_clue_type": _labels("clue_type", CLUE_TYPES),
        "code_loss_reason": _labels("loss_reason", LOSS_REASONS),
        "code_supervision_focus": _labels("focus", {zh: en for zh, (_, en, _) in SUPERVISION_FOCUSES.items()}),
        "code_referral_result": _labels("feedback_result", REFERRAL_RESULTS),
    }


CODE_COLUMNS: dict[str, tuple[str, str]] = {
    "type_code": ("类型代字", "case type code (法〔2015〕137号)"),
    "category": ("案件类别", "case category"),
    "procedure": ("审级或程序", "instance or procedure"),
    "court_code": ("法院代字", "court code"),
    "name": ("名称", "name"),
    "level": ("法院层级", "最高 / 高级 / 中级 / 基层 / 专门"),
    "tribunal_code": ("专门审判代字", "special tribunal code"),
    "label_en": ("英文含义", "English meaning of the code"),
}
"""The code tables' columns (Chinese, English); a label table's coded column is documented by ``code_docs``."""


def code_docs(name: str, table: pa.Table) -> tuple[str, dict[str, tuple[str, str]]]:
    """A code table's description and its columns (Chinese, English)."""
    coded = table.column_names[0]
    docs = CODE_COLUMNS | ({} if coded in CODE_COLUMNS else {coded: ("代码", f"the {coded.replace('_', ' ')} as written")})
    return f"Code table: {name.removeprefix('code_').replace('_', ' ')}", {c: docs[c] for c in table.column_names}


def _labels(column: str, table: dict[str, str]) -> pa.Table:
    return pa.table({column: list(table), "label_en": list(table.values())})
