"""A seeded, realistic demo exchange for 乌海 (Wuhai, Inner Mongolia).

Two courts keep filings, decisions and enforcement cases in their own databases (SQLite),
each under its own column names; the procuratorate drops supervision measures as GBK CSV on
SFTP. Case numbers come in the bracket styles seen in the wild, supervision measures target
real cases, some replies are overdue and a few rows are malformed on purpose, each in a way
that normalization must catch.
"""

from __future__ import annotations

import csv
import datetime as dt
import random
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

from schemas.identifiers import (
    InvalidIdentifier,
    validate_credit_code,
    validate_resident_id,
)

SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董萧程曹袁邓许傅沈曾彭吕苏卢蒋蔡贾丁魏薛叶阎余潘杜戴夏钟汪田任姜范方石姚谭廖邹熊金陆郝孔白崔康毛邱秦江史顾侯邵孟龙万段雷钱汤尹黎易常武乔贺赖龚文"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红建国志文海燕鹏飞宇辉"
COMPANIES = ["乌海市恒达煤业有限公司", "内蒙古蒙西建材有限责任公司", "乌海市金山化工有限公司",
             "乌海市海勃湾区宏远物流有限公司", "内蒙古黄河能源科技有限公司", "乌海市天和商贸有限公司"]
AGENCIES = ["乌海市自然资源局", "乌海市生态环境局", "乌海市市场监督管理局", "乌海市人力资源和社会保障局",
            "乌海市海勃湾区人民政府", "乌海市公安局交通警察支队", "乌海市住房和城乡建设局"]
CIVIL_CAUSES = ["民间借贷纠纷", "买卖合同纠纷", "劳动争议", "机动车交通事故责任纠纷", "房屋租赁合同纠纷",
                "离婚纠纷", "建设工程施工合同纠纷", "物业服务合同纠纷"]
ADMIN_CAUSES = ["行政处罚", "行政许可", "行政强制", "工伤认定", "政府信息公开", "行政征收"]
CRIMINAL_CAUSES = ["盗窃罪", "危险驾驶罪", "诈骗罪", "故意伤害罪"]
OUTCOMES = {"民事": ["支持", "部分支持", "驳回", "调解", "撤诉"], "行政": ["维持", "撤销", "驳回", "确认违法", "撤诉", "调解", "驳回起诉"],
            "刑事": ["支持"]}
SPLIT_CAUSES = {"劳动争议", "行政强制"}
"""Causes whose similar cases the demo's courts decide every which way (mart_class_divergence);
the others mostly end in their cause's usual outcome."""
CLOSURES = ["执行完毕", "终结本次执行程序", "终结执行", "不予执行"]
DISTRICTS = {"内03": "150302", "内0302": "150302", "内0303": "150303", "内0304": "150304"}


@dataclass
class Case:
    court_code: str
    year: int
    type_code: str
    seq: int
    category: str
    cause: str
    filed: dt.date
    updated: dt.datetime
    plaintiff: str
    defendant: str
    defendant_id: str
    agency: str | None
    claim: float
    decision: dict[str, object] | None = None
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def canonical(self) -> str:
        return f"（{self.year}）{self.court_code}{self.type_code}{self.seq}号"


class DemoData:
    """Deterministic demo records; ``as_of`` fixes what counts as overdue."""

    def __init__(self, seed: int = 20241122, as_of: dt.date | None = None) -> None:
        self.seed, self.rng = seed, random.Random(seed)
        self.as_of = as_of or dt.date.today()
        self.cases: dict[str, list[Case]] = {"内03": [], "内0302": []}
        self.enforcement: dict[str, list[Case]] = {"内03": [], "内0302": []}
        self._make_cases("内03", 260, [("民终", "民事", 0.55), ("行初", "行政", 0.2), ("行终", "行政", 0.25)])
        self._make_cases("内0302", 380, [("民初", "民事", 0.7), ("行初", "行政", 0.15), ("刑初", "刑事", 0.15)])
        for court in self.cases:
            self._make_enforcement(court, 90 if court == "内03" else 140)
        self._make_admin_applications("内0302", 14)

    # --- people and identifiers ------------------------------------------------------------
    def name(self) -> str:
        return self.rng.choice(SURNAMES) + "".join(self.rng.choice(GIVEN) for _ in range(self.rng.choice((1, 2))))

    def resident_id(self, court: str) -> str:
        born = dt.date(1950, 1, 1) + dt.timedelta(days=self.rng.randrange(0, 365 * 50))
        base = f"{DISTRICTS[court]}{born:%Y%m%d}{self.rng.randrange(0, 1000):03d}"
        return _complete(base, "0123456789X", validate_resident_id)

    def credit_code(self) -> str:
        alphabet = "0123456789ABCDEFGHJKLMNPQRTUWXY"
        base = "91150300" + "".join(self.rng.choice(alphabet) for _ in range(9))
        return _complete(base, alphabet, validate_credit_code)

    def when(self, start: dt.date, end: dt.date) -> dt.date:
        return start + dt.timedelta(days=self.rng.randrange(0, max(1, (end - start).days)))

    # --- cases -----------------------------------------------------------------------------
    def _make_cases(self, court: str, n: int, types: list[tuple[str, str, float]]) -> None:
        seqs: dict[tuple[int, str], int] = {}
        for _ in range(n):
            type_code, category, _w = self.rng.choices(types, weights=[t[2] for t in types])[0]
            filed = self.when(self.as_of - dt.timedelta(days=3 * 365), self.as_of - dt.timedelta(days=20))
            key = (filed.year, type_code)
            seqs[key] = seqs.get(key, 0) + self.rng.randint(1, 9)
            agency = self.rng.choice(AGENCIES) if category == "行政" else None
            if agency:
                defendant, defendant_id = agency, self.credit_code()
            elif self.rng.random() < 0.3:
                defendant = self.rng.choice(COMPANIES)
                defendant_id = self.credit_code()
            else:
                defendant, defendant_id = self.name(), self.resident_id(court)
            cause = self.rng.choice({"民事": CIVIL_CAUSES, "行政": ADMIN_CAUSES, "刑事": CRIMINAL_CAUSES}[category])
            case = Case(court, filed.year, type_code, seqs[key], category, cause, filed,
                        dt.datetime.combine(filed, dt.time(9)) + dt.timedelta(minutes=self.rng.randrange(600)),
                        "乌海市人民检察院" if category == "刑事" else self.name(), defendant, defendant_id, agency,
                        round(self.rng.uniform(2_000, 3_000_000), 2) if category == "民事" else 0.0)
            if self.rng.random() < 0.75:
                decided = min(self.as_of - dt.timedelta(days=1), filed + dt.timedelta(days=self.rng.randrange(30, 200)))
                case.decision = {
                    "type": "调解书" if self.rng.random() < 0.15 else self.rng.choice(["判决书", "裁定书"]),
                    "outcome": self._outcome(category, cause),
                    "decided": decided,
                    "effective": decided + dt.timedelta(days=self.rng.choice((15, 16, 30))),
                    "head_appeared": (self.rng.random() < 0.8) if agency else None,
                }
            self.cases[court].append(case)

    def _outcome(self, category: str, cause: str) -> str:
        outcomes = OUTCOMES[category]
        causes = {"民事": CIVIL_CAUSES, "行政": ADMIN_CAUSES, "刑事": CRIMINAL_CAUSES}[category]
        usual = outcomes[causes.index(cause) % len(outcomes)]
        if cause in SPLIT_CAUSES or self.rng.random() < 0.25:
            return self.rng.choice(outcomes)
        return usual

    def _make_enforcement(self, court: str, n: int) -> None:
        decided = [c for c in self.cases[court] if c.decision and c.category == "民事"]
        for i in range(n):
            basis = self.rng.choice(decided)
            filed = min(self.as_of - dt.timedelta(days=5), basis.decision["effective"] + dt.timedelta(days=self.rng.randrange(10, 120)))  # type: ignore[operator]
            due = basis.claim or round(self.rng.uniform(5_000, 500_000), 2)
            closure = self.rng.choice(CLOSURES + [None, None])
            closed = filed + dt.timedelta(days=self.rng.randrange(20, 300)) if closure else None
            if closed and closed > self.as_of:
                closure, closed = None, None
            executed = due if closure == "执行完毕" else round(due * self.rng.choice((0, 0, 0.1, 0.4)), 2)
            case = Case(court, filed.year, "执", 1000 + i * 3, "执行", basis.cause, filed,
                        dt.datetime.combine(filed, dt.time(10)), basis.plaintiff, basis.defendant,
                        basis.defendant_id, None, due)
            basis_no, basis_type = basis.canonical, "民事判决书" if basis.decision["type"] != "调解书" else "民事调解书"  # type: ignore[index]
            if court == "内0302" and i % 40 == 7:  # non-litigation enforcement of an arbitration award
                basis_no, basis_type = f"乌仲裁字〔{filed.year - 1}〕{i}号", "仲裁裁决书"
            case.extra = {"basis": basis_no, "closure": closure, "closed": closed, "executed": executed,
                          "basis_type": basis_type, "report": self.rng.random() < 0.8,
                          "restrict": self.rng.random() < 0.7, "search": self.rng.random() < 0.75}
            self.enforcement[court].append(case)

    def _make_admin_applications(self, court: str, n: int) -> None:
        """Agencies asking the court to enforce their own decisions (非诉行政执行, 类型代字 行审):
        most are decided within weeks, a few wait past the review period."""
        for i in range(n):
            agency = self.rng.choice(AGENCIES)
            filed = self.when(self.as_of - dt.timedelta(days=2 * 365), self.as_of - dt.timedelta(days=5))
            closure = self.rng.choice(["执行完毕", "执行完毕", "不予执行", None])
            closed = filed + dt.timedelta(days=self.rng.randrange(10, 40)) if closure else None
            if closed and closed > self.as_of:
                closure, closed = None, None
            due = round(self.rng.uniform(1_000, 200_000), 2)
            case = Case(court, filed.year, "行审", 200 + i * 7, "非诉行政执行审查", "行政处罚", filed,
                        dt.datetime.combine(filed, dt.time(14)), agency, self.rng.choice(COMPANIES), self.credit_code(),
                        agency, due)
            case.extra = {"basis": f"乌政罚决字〔{filed.year}〕{i + 1}号", "closure": closure, "closed": closed,
                          "executed": due if closure == "执行完毕" else 0.0, "basis_type": "行政决定书",
                          "report": False, "restrict": False, "search": False}
            self.enforcement[court].append(case)

    def messy(self, case_no: str) -> str:
        """The same case number as clerks really type it."""
        r = self.rng.random()
        if r < 0.45:
            return case_no
        if r < 0.6:
            return case_no.replace("（", "(").replace("）", ")")
        if r < 0.7:
            return case_no.replace("（", "(")
        if r < 0.78:
            return case_no.translate(str.maketrans("0123456789", "０１２３４５６７８９"))
        if r < 0.86:
            return case_no.replace("（", "〔").replace("）", "〕")
        if r < 0.93:
            return case_no.replace("）", "） ").replace("号", " 号")
        return case_no.removesuffix("号")


def _complete(base: str, alphabet: str, validate: object) -> str:
    """Append the one check character that ``validate`` accepts."""
    for ch in alphabet:
        try:
            return validate(base + ch)  # type: ignore[operator,no-any-return]
        except InvalidIdentifier:
            continue
    raise AssertionError(f"no check character completes {base}")


# --- writing the institutions' own stores ---------------------------------------------------
COURT_A_SCHEMA = """
CREATE TABLE t_ajxx_la (ajbs TEXT PRIMARY KEY, ah TEXT, fymc TEXT, ay TEXT, larq TEXT, yg TEXT, bg TEXT,
  bgzjhm TEXT, bsxzjg TEXT, bdje REAL, gxsj TEXT, ysah TEXT, wcnr TEXT, gyss TEXT);
CREATE TABLE t_cpws (wsbs TEXT PRIMARY KEY, ah TEXT, wslx TEXT, cpjg TEXT, cprq TEXT, sxrq TEXT,
  bsxzjg TEXT, fzrcz TEXT, gxsj TEXT, bsyy TEXT);
CREATE TABLE t_xsys (ysbs TEXT PRIMARY KEY, yshh TEXT, xslx TEXT, jsdw TEXT, glah TEXT, ysrq TEXT, fkqx TEXT,
  fkrq TEXT, cljg TEXT, gxsj TEXT);
CREATE TABLE t_sfjy (jybs TEXT PRIMARY KEY, jywh TEXT, jylx TEXT, ly TEXT, fcdw TEXT, ah TEXT, dxjg TEXT, fcrq TEXT,
  hfqx TEXT, hfrq TEXT, hfjg TEXT, gxsj TEXT);
CREATE TABLE t_zxaj (zxbs TEXT PRIMARY KEY, zxah TEXT, larq TEXT, zxyjlx TEXT, zxyjwh TEXT, sqzxr TEXT,
  bzxr TEXT, bzxrzjhm TEXT, sqbd REAL, sjdw REAL, jafs TEXT, jarq TEXT, bgccl TEXT, xzxfl TEXT, ccdcwb TEXT,
  gxsj TEXT, zjcxrq TEXT);
"""
COURT_B_SCHEMA = """
CREATE TABLE filings (id INTEGER PRIMARY KEY, case_number TEXT, court TEXT, cause_of_action TEXT,
  filed_on TEXT, plaintiff_name TEXT, defendant_name TEXT, defendant_idno TEXT, defendant_agency TEXT,
  claim TEXT, is_deleted INTEGER, updated_at TEXT);
CREATE TABLE decisions (id INTEGER PRIMARY KEY, case_number TEXT, doc_kind TEXT, result TEXT,
  decided_on TEXT, effective_on TEXT, agency TEXT, head_in_court INTEGER, updated_at TEXT);
CREATE TABLE enforcement_cases (id INTEGER PRIMARY KEY, case_number TEXT, filed_on TEXT, basis_kind TEXT,
  basis_number TEXT, applicant TEXT, respondent TEXT, respondent_idno TEXT, amount_due TEXT,
  amount_paid TEXT, closed_how TEXT, closed_on TEXT, asset_report INTEGER, consumption_ban INTEGER,
  asset_search INTEGER, updated_at TEXT);
"""


LOSS_REASONS = ["违反法定程序", "主要证据不足", "适用法律法规错误", "明显不当", "不履行法定职责"]
"""Why the demo's agencies lost, in turn (乌海中院 records it; 海勃湾区法院's system does not)."""
RETRIAL_RESULTS = [("判决书", "改判"), ("裁定书", "发回重审"), ("判决书", "维持"), ("调解书", "调解"), None]
"""What the demo's retrials came to, in turn: amended, remanded, upheld, settled, not decided yet."""


@dataclass
class Protest:
    """A protest or retrial recommendation of the demo, and the retrial it led to, if any."""

    target: Case
    measure: str
    issued: dt.date
    doc_no: str
    reply: str | None
    retrial: str | None  # the 民再 case number
    filed: dt.date
    result: tuple[str, str] | None  # (document type, outcome) of the retrial
    received: str | None  # a protest's own case at the court (民抗), filed ten days after it


def protests(data: DemoData) -> list[Protest]:
    """Seven protests of 乌海中院's appeal rulings, picked without the data's random stream: five
    retried (amended, remanded, upheld, settled, pending), one recommendation rejected, one protest
    the court has filed as its own case (民抗) and not yet ruled to retry."""
    ruled = [c for c in data.cases["内03"] if c.type_code == "民终" and c.decision
             and c.decision["effective"] < data.as_of - dt.timedelta(days=400)][:7]  # type: ignore[operator]
    out = []
    for k, c in enumerate(ruled):
        issued = c.decision["effective"] + dt.timedelta(days=30)  # type: ignore[index,operator]
        filed = issued + dt.timedelta(days=40)
        measure = "再审检察建议" if k % 2 else "抗诉"
        rejected, retried = k == 5, k < 5
        out.append(Protest(c, "再审检察建议" if rejected else measure, issued, f"乌检民监〔{issued.year}〕{800 + k}号",
                           "不采纳" if rejected else ("采纳" if measure == "再审检察建议" else None),
                           f"（{filed.year}）内03民再{900 + k}号" if retried else None, filed,
                           RETRIAL_RESULTS[k] if retried else None,
                           f"（{issued.year}）内03民抗{900 + k}号" if measure == "抗诉" else None))
    return out


def _requeried(data: DemoData, i: int, x: dict[str, object]) -> str | None:
    """The last asset query after a 终本, where 乌海中院 recorded one: every other case, 100 days on."""
    closed = x["closed"]
    if x["closure"] != "终结本次执行程序" or not isinstance(closed, dt.date) or i % 2:
        return None
    return f"{min(closed + dt.timedelta(days=100), data.as_of):%Y-%m-%d}"


def write_court_a(data: DemoData, path: Path) -> None:
    """乌海中院: pinyin-initial column names, dates as YYYY-MM-DD, 是/否 flags; its appeal rulings
    that were protested, retried (原审案号 names the ruling)."""
    rows_f, rows_j, rows_e = [], [], []
    for i, c in enumerate(data.cases["内03"]):
        public = "是" if c.type_code == "行初" and i % 9 == 0 else "否"  # 行政公益诉讼, as the system marks it
        rows_f.append((f"LA{i:06d}", data.messy(c.canonical), "乌海市中级人民法院", c.cause, f"{c.filed:%Y-%m-%d}",
                       c.plaintiff, c.defendant, c.defendant_id, c.agency, c.claim, f"{c.updated:%Y-%m-%d %H:%M:%S}",
                       None, "否", public))
        if c.decision:
            d = c.decision
            flag = None if d["head_appeared"] is None else ("是" if d["head_appeared"] else "否")
            lost = c.category == "行政" and d["outcome"] in ("撤销", "确认违法") and d["type"] == "判决书"
            rows_j.append((f"WS{i:06d}", data.messy(c.canonical), d["type"], d["outcome"], f"{d['decided']:%Y-%m-%d}",
                           f"{d['effective']:%Y-%m-%d}", c.agency, flag, f"{d['decided']:%Y-%m-%d} 16:00:00",
                           LOSS_REASONS[i % len(LOSS_REASONS)] if lost else None))
    for i, e in enumerate(data.enforcement["内03"]):
        x = e.extra
        rows_e.append((f"ZX{i:06d}", data.messy(e.canonical), f"{e.filed:%Y-%m-%d}", x["basis_type"], x["basis"],
                       e.plaintiff, e.defendant, e.defendant_id, e.claim, x["executed"], x["closure"],
                       f"{x['closed']:%Y-%m-%d}" if x["closed"] else None,
                       *("是" if x[k] else "否" for k in ("report", "restrict", "search")),
                       f"{e.updated:%Y-%m-%d %H:%M:%S}", _requeried(data, i, x)))
    for k, p in enumerate(protests(data)):
        c = p.target
        # the court's cases filed on the protested ruling (原审案号): its protest case, its retrial
        for key, case_no, filed in ((f"LAKS{k:02d}", p.received, p.issued + dt.timedelta(days=10)),
                                    (f"LAZS{k:02d}", p.retrial, p.filed)):
            if case_no:
                rows_f.append((key, case_no, "乌海市中级人民法院", c.cause, f"{filed:%Y-%m-%d}", c.plaintiff, c.defendant,
                               c.defendant_id, None, c.claim, f"{filed:%Y-%m-%d} 10:00:00", c.canonical, "否", "否"))
        if p.result:  # only a retrial has one
            decided = p.filed + dt.timedelta(days=60)
            rows_j.append((f"WSZS{k:02d}", p.retrial, *p.result, f"{decided:%Y-%m-%d}",
                           f"{decided + dt.timedelta(days=15):%Y-%m-%d}", None, None, f"{decided:%Y-%m-%d} 16:00:00",
                           None))
    rows_r = referrals(data)
    # deliberate defects: what a real extract contains
    rows_f.append(("LA_BAD1", "（2024）内03民X12号", "乌海市中级人民法院", "买卖合同纠纷", "2024-05-06", "甲", "乙", None, None, 100.0, "2024-05-06 10:00:00", None, None, None))
    rows_f.append(("LA_BAD2", "（2024）内03民终77号", "乌海市中级人民法院", "劳动争议", "2024-13-45", "甲", "乙", None, None, 100.0, "2024-05-06 10:00:00", None, None, None))
    rows_f.append(("LA_BAD3", "（2024）内06民终88号", "乌海市中级人民法院", "劳动争议", "2024-04-01", "甲", "乙", None, None, 100.0, "2024-05-06 10:00:00", None, None, None))
    rows_e.append(("ZX_BAD1", None, "2024-02-02", "民事判决书", None, "甲", "乙", "150302199001011234", 100.0, 0.0, None, None,
                   "否", "否", "否", "2024-02-02 10:00:00", None))
    _write_sqlite(path, COURT_A_SCHEMA, {"t_ajxx_la": rows_f, "t_cpws": rows_j, "t_zxaj": rows_e, "t_xsys": rows_r,
                                         "t_sfjy": judicial_recommendations(data)})


def judicial_recommendations(data: DemoData) -> list[tuple[object, ...]]:
    """乌海中院's judicial recommendations (司法建议) to agencies whose cases showed a problem:
    answered and adopted, overdue, not yet due."""
    def day(days: int | None) -> str | None:
        return None if days is None else f"{data.as_of + dt.timedelta(days=days):%Y-%m-%d}"
    heard = [c for c in data.cases["内03"] if c.type_code == "行初" and c.agency][:3]
    plan = [(-200, -140, -150, "采纳"), (-120, -60, None, None), (-20, 40, None, None)]
    return [(f"JY{k:03d}", f"乌中法司建〔{data.as_of.year}〕{k + 1}号", "司法建议", "行政", "乌海市中级人民法院",
             c.canonical, c.agency, day(sent), day(due), day(back), result, f"{day(sent)} 09:00:00")
            for k, (c, (sent, due, back, result)) in enumerate(zip(heard, plan))]


def referrals(data: DemoData) -> list[tuple[object, ...]]:
    """乌海中院's clue referrals (线索移送) with the feedback it received: answered, overdue, late,
    only an interim answer, awaiting; and one whose feedback is dated before it (quarantined)."""
    def day(days: int | None) -> str | None:
        return None if days is None else f"{data.as_of + dt.timedelta(days=days):%Y-%m-%d}"
    civil, enforced = data.cases["内03"], data.enforcement["内03"]
    proc, police, commission = "乌海市人民检察院", "乌海市公安局", "乌海市监察委员会"
    plan = [  # (clue type, recipient, related case, referred, due, feedback, result)
        ("虚假诉讼", proc, civil[0], -200, -170, -180, "立案"),
        ("虚假诉讼", police, civil[1], -150, -120, None, None),
        ("拒不执行判决裁定", police, enforced[0], -100, -70, -60, "立案"),
        ("刑事犯罪", proc, civil[2], -40, None, -30, "正在核查"),
        ("职务违法", commission, civil[3], -20, None, None, None),
        ("拒不执行判决裁定", proc, enforced[1], -300, -270, -280, "不予立案"),
        ("虚假诉讼", proc, civil[4], -90, None, -95, "立案"),
    ]
    return [(f"YS{k:04d}", f"乌中法移〔{data.as_of.year}〕{k + 1}号", clue, to, data.messy(case.canonical), day(sent),
             day(due), day(back), result, f"{day(back if back is not None else sent)} 10:00:00")
            for k, (clue, to, case, sent, due, back, result) in enumerate(plan)]


def write_court_b(data: DemoData, path: Path) -> None:
    """海勃湾区法院: English names, dates as YYYY/MM/DD, amounts as text with thousands separators."""
    rows_f, rows_j, rows_e = [], [], []
    cases = data.cases["内0302"]
    for i, c in enumerate(cases, 1):
        deleted = int(i > len(cases) - 2)  # the clerk withdrew the last two entries; this system only flags them
        rows_f.append((i, data.messy(c.canonical), "海勃湾区人民法院", c.cause, f"{c.filed:%Y/%m/%d}", c.plaintiff,
                       c.defendant, c.defendant_id, c.agency, f"{c.claim:,.2f}", deleted, f"{c.updated:%Y-%m-%dT%H:%M:%S}"))
        if c.decision:
            d = c.decision
            rows_j.append((i, data.messy(c.canonical), d["type"], d["outcome"], f"{d['decided']:%Y/%m/%d}",
                           f"{d['effective']:%Y/%m/%d}", c.agency,
                           None if d["head_appeared"] is None else int(bool(d["head_appeared"])),
                           f"{d['decided']:%Y-%m-%d}T17:30:00"))
    for i, e in enumerate(data.enforcement["内0302"], 1):
        x = e.extra
        rows_e.append((i, data.messy(e.canonical), f"{e.filed:%Y/%m/%d}", x["basis_type"],
                       data.messy(str(x["basis"])) if x["basis_type"] not in ("仲裁裁决书", "行政决定书") else x["basis"],
                       e.plaintiff, e.defendant, e.defendant_id, f"{e.claim:,.2f}", f"{x['executed']:,.2f}",
                       x["closure"], f"{x['closed']:%Y/%m/%d}" if x["closed"] else None,
                       *(int(bool(x[k])) for k in ("report", "restrict", "search")),
                       f"{e.updated:%Y-%m-%dT%H:%M:%S}"))
    good_id = data.resident_id("内0302")
    bad_id = good_id[:-1] + ("0" if good_id[-1] != "0" else "1")
    rows_f.append((9001, "（2023）内0302民初5号", "海勃湾区人民法院", "离婚纠纷", "2023/03/01", "甲", "乙", bad_id, None, "1,000.00", 0, "2023-03-01T09:00:00"))
    rows_f.append((9002, "（2023）内0302民初6号", "海勃湾区人民法院", "离婚纠纷", None, "甲", "乙", None, None, "1,000.00", 0, "2023-03-01T09:00:00"))
    # a first-generation (15-digit) ID, still on file in an old record: kept in its 18-digit form, flagged
    rows_f.append((9004, "（2023）内0302民初8号", "海勃湾区人民法院", "离婚纠纷", "2023/03/02", "甲", "乙", "150302850612123", None, "2,000.00", 0, "2023-03-02T09:00:00"))
    # two cases heard together, filed in one row: a record for each; a row naming another court's case
    # as well is quarantined whole
    rows_f.append((9005, "（2023）内0302民初9、10号", "海勃湾区人民法院", "离婚纠纷", "2023/03/02", "甲", "乙", None, None, "3,000.00", 0, "2023-03-02T09:00:00"))
    rows_f.append((9006, "（2023）内0302民初11号 （2023）内0303民初12号", "海勃湾区人民法院", "离婚纠纷", "2023/03/02", "甲", "乙", None, None, "3,000.00", 0, "2023-03-02T09:00:00"))
    rows_j.append((9003, "（2023）内0302民初7号", "判决书", "驳回", "2023/02/30", None, None, None, "2023-03-01T09:00:00"))
    _write_sqlite(path, COURT_B_SCHEMA, {"filings": rows_f, "decisions": rows_j, "enforcement_cases": rows_e})


AGENCY_PLATFORM_SCHEMA = """
CREATE TABLE xzzf_jd (id INTEGER PRIMARY KEY, jdswh TEXT, zcjg TEXT, jdlx TEXT, wfxw TEXT, dsr TEXT, dsrzjhm TEXT,
                      jdrq TEXT, sdrq TEXT, fmje TEXT, lxqk TEXT, sqzxrq TEXT, fyah TEXT, gxsj TEXT);
"""
VIOLATIONS = ["未批先建", "超标排放污染物", "销售不合格产品", "非法占用土地", "未依法缴纳社会保险费", "无证经营"]


def write_agency_platform(data: DemoData, path: Path) -> None:
    """乌海市行政执法信息平台, where the agencies' law-enforcement decisions are shared: one for each
    行审 application a court received (unperformed, with the court's case number), and decisions
    performed without a court. Its own random stream, so the courts' data stays as it was."""
    rng = random.Random(data.seed + 1)
    rows: list[tuple[object, ...]] = []
    applications = [e for cases in data.enforcement.values() for e in cases if e.type_code == "行审"]
    for e in applications:
        decided = e.filed - dt.timedelta(days=rng.randrange(100, 200))
        rows.append((len(rows) + 1, e.extra["basis"], e.plaintiff, "行政处罚", rng.choice(VIOLATIONS), e.defendant,
                     e.defendant_id, f"{decided:%Y-%m-%d}", f"{decided + dt.timedelta(days=3):%Y-%m-%d}",
                     f"{e.claim:.2f}", "未履行", f"{e.filed:%Y-%m-%d}", e.canonical, f"{e.filed:%Y-%m-%d} 16:00:00"))
    alphabet = "0123456789ABCDEFGHJKLMNPQRTUWXY"
    for n in range(1, 21):  # performed: they never reach a court
        decided = data.as_of - dt.timedelta(days=rng.randrange(30, 700))
        code = _complete("91150300" + "".join(rng.choice(alphabet) for _ in range(9)), alphabet, validate_credit_code)
        rows.append((len(rows) + 1, f"乌政罚决字〔{decided.year}〕{500 + n}号", rng.choice(AGENCIES),
                     rng.choice(["行政处罚", "行政处罚", "行政强制"]), rng.choice(VIOLATIONS), rng.choice(COMPANIES), code,
                     f"{decided:%Y-%m-%d}", f"{decided + dt.timedelta(days=2):%Y-%m-%d}",
                     f"{rng.uniform(500, 50_000):.2f}", rng.choice(["已履行", "已履行", "部分履行"]), None, None,
                     f"{decided:%Y-%m-%d} 16:00:00"))
    # an ID with a wrong check digit (kept, the ID withheld), a decision with no date (quarantined),
    # and a type no code table knows (kept, listed in code_flags)
    rows.append((9001, "乌政罚决字〔2024〕901号", AGENCIES[2], "行政处罚", "无证经营", COMPANIES[0], "91150300MA0N00000X",
                 "2024-05-06", None, "1000.00", "已履行", None, None, "2024-05-06 16:00:00"))
    rows.append((9002, "乌政罚决字〔2024〕902号", AGENCIES[2], "行政处罚", "无证经营", COMPANIES[1], None,
                 None, None, "1000.00", "已履行", None, None, "2024-05-06 16:00:00"))
    rows.append((9003, "乌政罚决字〔2024〕903号", AGENCIES[0], "责令限期改正", "未批先建", COMPANIES[1], None,
                 "2024-05-07", None, None, "已履行", None, None, "2024-05-07 16:00:00"))
    _write_sqlite(path, AGENCY_PLATFORM_SCHEMA, {"xzzf_jd": rows})


def _write_sqlite(path: Path, schema: str, tables: dict[str, list[tuple[object, ...]]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    with sqlite3.connect(path) as con:
        con.executescript(schema)
        for table, rows in tables.items():
            if rows:
                marks = ",".join("?" * len(rows[0]))
                con.executemany(f"INSERT INTO {table} VALUES ({marks})", rows)


SUPERVISION_HEADER = ["文书编号", "监督方式", "监督领域", "发出单位", "被监督案号", "发出日期", "回复期限",
                      "回复日期", "回复结果", "原裁判生效日期", "更新时间", "建议对象机关", "延期回复期限", "跟进原文书",
                      "监督事项"]
ENFORCEMENT_FOCUSES = ["消极执行", "滥用终本", "选择性执行", "超标的执行", "应予执行而不执行"]
"""What the demo's enforcement measures are about, in turn (the civil ones; an administrative
target's 超标的执行 reads as 违法执行和解)."""


def _focus(i: int, target: Case) -> str:
    focus = ENFORCEMENT_FOCUSES[i % len(ENFORCEMENT_FOCUSES)]
    return "违法执行和解" if focus == "超标的执行" and target.extra.get("basis_type") == "行政决定书" else focus


def agency_recommendations(as_of: dt.date) -> list[list[str]]:
    """Recommendations to agencies (no court case): answered, overdue, extended, rejected and
    followed up, not yet due; days counted back from ``as_of``, so each keeps its status."""
    def day(days: int) -> str:
        return f"{as_of + dt.timedelta(days=days):%Y-%m-%d}"
    org, no = "乌海市人民检察院", f"乌检行建〔{as_of.year}〕{{}}号".format
    rows = [  # (n, agency, issued, due, replied, result, extended to, follow-up of)
        (201, "乌海市市场监督管理局", -150, -90, -100, "采纳", None, None),
        (202, "乌海市市场监督管理局", -120, -60, None, "", None, None),
        (203, "乌海市自然资源局", -100, -40, None, "", 20, None),
        (204, "乌海市生态环境局", -200, -140, -150, "不采纳", None, None),
        (205, "乌海市生态环境局", -130, -70, -75, "部分采纳", None, 204),
        (206, "乌海市人力资源和社会保障局", -30, None, None, "", None, None),
    ]
    return [[no(n), "检察建议", "行政", org, "", day(issued), day(due) if due is not None else "",
             day(replied) if replied is not None else "", result, "", f"{day(issued)} 11:00:00", agency,
             day(extended) if extended is not None else "", no(follow) if follow else "", ""]
            for n, agency, issued, due, replied, result, extended, follow in rows]


def write_supervision_drops(data: DemoData, folder: Path) -> list[Path]:
    """乌海市人民检察院's GBK CSV drops: one file per quarter of issue dates."""
    rng = data.rng
    decided = [c for cs in data.cases.values() for c in cs if c.decision and c.category in ("民事", "行政")]
    measures = [("再审检察建议", "民事"), ("抗诉", "民事"), ("检察建议", "行政"), ("检察建议", "执行"), ("纠正违法", "执行")]
    rows: list[list[str]] = []
    for i in range(1, 131):
        measure, domain = rng.choice(measures)
        enforced = [c for cs in data.enforcement.values() for c in cs]
        if domain == "执行" and i % 6 == 0:  # the procuratorate's non-litigation enforcement campaign
            enforced = [c for c in enforced if c.extra["basis_type"] in ("仲裁裁决书", "行政决定书")]
        target = rng.choice(enforced if domain == "执行" else decided)
        start = target.decision["effective"] if target.decision else target.filed  # type: ignore[index]
        issued = data.when(start + dt.timedelta(days=20), max(start + dt.timedelta(days=40), data.as_of))  # type: ignore[operator]
        issued = min(issued, data.as_of)
        due = issued + dt.timedelta(days=90 if domain == "执行" else 60)
        replied, result = None, None
        if rng.random() < 0.7 and issued + dt.timedelta(days=10) < data.as_of:
            replied = min(data.as_of, issued + dt.timedelta(days=rng.randrange(10, 120)))
            result = rng.choice(["采纳", "采纳", "部分采纳", "不采纳"])
        kind = {"民事": "民监", "行政": "行监", "执行": "执监"}[domain]
        rows.append([f"乌检{kind}〔{issued.year}〕{i}号", measure, domain, "乌海市人民检察院", data.messy(target.canonical),
                     f"{issued:%Y-%m-%d}", f"{due:%Y-%m-%d}", f"{replied:%Y-%m-%d}" if replied else "", result or "",
                     f"{target.decision['effective']:%Y-%m-%d}" if target.decision else "",  # type: ignore[index]
                     f"{issued:%Y-%m-%d} 11:00:00", "", "", "", _focus(i, target) if domain == "执行" else ""])
    rows += agency_recommendations(data.as_of)
    rows += [[p.doc_no, p.measure, "民事", "乌海市人民检察院", p.target.canonical, f"{p.issued:%Y-%m-%d}",
              f"{p.issued + dt.timedelta(days=60):%Y-%m-%d}",
              f"{p.issued + dt.timedelta(days=20):%Y-%m-%d}" if p.reply else "", p.reply or "",
              f"{p.target.decision['effective']:%Y-%m-%d}", f"{p.issued:%Y-%m-%d} 11:00:00", "", "", "", ""]  # type: ignore[index]
             for p in protests(data)]
    rows.sort(key=lambda r: r[5])
    # the parties of two cases settled while the procuratorate reviewed them: the court is told (no reply due)
    rows += [[f"乌检民监〔{data.as_of.year}〕{950 + k}号", "和解通知", "民事", "乌海市人民检察院", c.canonical,
              f"{data.as_of - dt.timedelta(days=30 + k):%Y-%m-%d}", "", "", "", "",
              f"{data.as_of - dt.timedelta(days=30 + k):%Y-%m-%d} 11:00:00", "", "", "", ""]
             for k, c in enumerate([c for c in data.cases["内03"] if c.type_code == "民终" and c.decision][-2:])]
    rows.append(["乌检民监〔2024〕901号", "口头建议", "民事", "乌海市人民检察院", "（2023）内03民终5号", "2024-03-01", "", "", "", "", "2024-03-01 11:00:00", "", "", "", ""])
    rows.append(["乌检民监〔2024〕902号", "再审检察建议", "民事", "乌海市人民检察院", "（2023）内03民终6号", "2024-03-01", "2024-05-01", "2024-02-01", "采纳", "", "2024-03-01 11:00:00", "", "", "", ""])
    rows.append(["乌检民监〔2024〕903号", "检察建议", "民事", "乌海市人民检察院", "无案号", "2024-03-02", "", "", "", "", "2024-03-02 11:00:00", "", "", "", ""])
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    half = len(rows) // 2
    for n, chunk in enumerate((rows[:half], rows[half:]), 1):
        path = folder / f"jdcs_{n:02d}.csv"
        with open(path, "w", encoding="gbk", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(SUPERVISION_HEADER)
            w.writerows(chunk)
            if n == 2:
                fh.write("乌检民监〔2024〕904号,抗诉,民事,乌海市人民检察院,（2023）内03民终8号,2024-03-03,,,,,2024-03-03 11:00:00,,,,,多余字段\r\n")
        paths.append(path)
    return paths
