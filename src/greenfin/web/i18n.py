"""Every label the pages show, in Chinese and English.

Bank staff read Chinese, so Chinese is the default; auditors and head-office reviewers often read
English, so every label has both (a test checks that each key a template uses is here, in both).
The choice is a ``lang`` cookie, not the browser's Accept-Language, so that a shared branch
terminal shows what its user last picked.  Messages from the services already carry both
languages as ``中文 / English``; :func:`pick` shows the half that matches.
"""

from __future__ import annotations

from collections.abc import Callable

LANGS = ("zh", "en")
DEFAULT_LANG = "zh"
LANG_COOKIE = "lang"

#: key → (Chinese, English).
MESSAGES: dict[str, tuple[str, str]] = {
    "app_name": ("greenfin 绿色金融", "greenfin green finance"),
    "nav_dashboard": ("仪表盘", "Dashboard"),
    "nav_loans": ("贷款台账", "Loans"),
    "nav_approvals": ("待复核", "Approvals"),
    "nav_import": ("导入", "Import"),
    "nav_collateral": ("押品", "Collateral"),
    "nav_cerf": ("碳减排工具", "CERF"),
    "nav_reports": ("报表", "Reports"),
    "nav_audit": ("审计日志", "Audit"),
    "nav_users": ("用户", "Users"),
    "sign_out": ("退出", "Sign out"),
    "switch_lang": ("English", "中文"),
    "signed_in_as": ("当前用户", "Signed in as"),
    # login
    "login_title": ("登录", "Sign in"),
    "username": ("用户名", "User name"),
    "password": ("密码", "Password"),
    "login_button": ("登录", "Sign in"),
    "login_locked": (
        "连续多次密码错误，账户已锁定，请 15 分钟后再试",
        "Too many wrong passwords: the account is locked, try again in 15 minutes",
    ),
    "login_csrf": ("登录表单已过期，请重新登录", "The sign-in form expired; please sign in again"),
    # dashboard
    "dashboard_title": ("仪表盘", "Dashboard"),
    "green_balance_by_level1": ("绿色贷款余额（按目录一级分类）", "Green loan balance by catalogue level 1"),
    "label_counts": ("识别结果（笔数）", "Identification results (loans)"),
    "attributed_benefits": (
        "归属于本行的环境效益（年）",
        "Environmental benefits attributed to the bank (a year)",
    ),
    "co2_reduced": ("减排二氧化碳当量", "CO2e reduced"),
    "coal_saved": ("节约标准煤", "Standard coal saved"),
    "benefit_note": (
        "可再生能源发电项目，按贷款余额 ÷ 项目总投资归属；因子口径",
        "Renewable-power projects, attributed by balance ÷ total investment; factor policy",
    ),
    "reporting_year": ("报告年度", "Reporting year"),
    "collateral_alerts": ("押品预警（最近一次重估）", "Collateral alerts (latest revaluation)"),
    "no_revaluation": ("尚无押品重估", "No revaluation has run yet"),
    "no_alerts": ("最近一次重估无预警", "The latest revaluation raised no alerts"),
    "revaluation_of": ("重估日", "Revaluation day"),
    "pending_approvals": ("待复核操作", "Pending approvals"),
    "wan_yuan": ("万元", "10k CNY"),
    "loans_unit": ("笔", "loans"),
    "green_total": ("绿色贷款余额合计", "Total green balance"),
    "foreign_note": ("外币贷款未计入人民币余额：", "Foreign-currency loans not added to CNY balances: "),
    "no_green_loans": ("尚无绿色贷款", "No green loans yet"),
    "alert_kind": ("类型", "Kind"),
    "alert_message": ("说明", "Message"),
    "kind_warning": ("预警", "Warning"),
    "kind_liquidation": ("低于平仓线", "Below liquidation line"),
    "kind_recovered": ("恢复正常", "Recovered"),
    # label statuses
    "status_green": ("绿色", "Green"),
    "status_not_green": ("非绿色", "Not green"),
    "status_needs_review": ("需人工复核", "Needs review"),
    "status_none": ("未识别", "Not labelled"),
    "status_all": ("全部", "All"),
    # loans
    "loans_title": ("贷款台账", "Loan book"),
    "search": ("检索", "Search"),
    "search_hint": ("贷款编号、借款人或用途", "Loan id, borrower or purpose"),
    "label_status": ("识别结果", "Label"),
    "sort": ("排序", "Sort"),
    "sort_asc": ("贷款编号升序", "Loan id ascending"),
    "sort_desc": ("贷款编号降序", "Loan id descending"),
    "filter": ("筛选", "Filter"),
    "loan_id": ("贷款编号", "Loan id"),
    "borrower": ("借款人", "Borrower"),
    "credit_code": ("统一社会信用代码", "Credit code"),
    "industry": ("行业代码", "Industry"),
    "purpose": ("贷款用途", "Purpose"),
    "amount": ("贷款金额", "Amount"),
    "balance": ("贷款余额", "Balance"),
    "currency": ("币种", "Currency"),
    "rate": ("执行年利率", "Rate"),
    "approval_date": ("审批日期", "Approval date"),
    "start_date": ("发放日期", "Start date"),
    "maturity_date": ("到期日期", "Maturity"),
    "five_tier": ("五级分类", "Five-tier class"),
    "item": ("目录条目", "Catalogue item"),
    "by_officer": ("人工认定", "officer's decision"),
    "total_loans": ("共", "Total"),
    "page": ("页", "Page"),
    "page_size": ("每页", "Per page"),
    "prev": ("上一页", "Previous"),
    "next": ("下一页", "Next"),
    "no_loans": ("没有符合条件的贷款", "No loans match"),
    "project": ("项目", "Project"),
    # loan page
    "loan_title": ("贷款", "Loan"),
    "not_found": ("未找到", "Not found"),
    "loan_not_found": ("贷款不存在", "No such loan"),
    "engine_label": ("系统识别结果", "Engine's label"),
    "officer_decision": ("人工认定", "Officer's decision"),
    "no_label": ("尚未运行识别", "Not labelled yet"),
    "no_decision": ("尚无人工认定（以系统结果为准）", "No decision yet (the engine's label counts)"),
    "catalogue": ("目录版本", "Catalogue"),
    "rules_version": ("规则版本", "Rules version"),
    "confidence": ("置信度", "Confidence"),
    "matched_terms": ("命中词", "Matched phrases"),
    "criteria": ("技术标准", "Criteria"),
    "criterion": ("标准", "Criterion"),
    "outcome": ("结论", "Outcome"),
    "required": ("要求", "Required"),
    "observed": ("实际", "Observed"),
    "outcome_passed": ("满足", "passed"),
    "outcome_failed": ("不满足", "failed"),
    "outcome_unknown": ("无法判断", "unknown"),
    "cerf_area": ("碳减排支持工具领域", "CERF area"),
    "reasons": ("说明", "Reasons"),
    "candidates": ("其他候选条目", "Other candidates"),
    "action": ("操作", "Action"),
    "action_confirm": ("确认", "confirmed"),
    "action_override": ("改判", "overridden"),
    "reason": ("理由", "Reason"),
    "actor": ("操作人", "By"),
    "at": ("时间", "At"),
    "benefits": ("环境效益", "Environmental benefits"),
    "no_benefits": (
        "非可再生能源发电项目，或缺少年发电量：暂无效益测算",
        "Not a renewable-power project, or no annual generation: no benefits assessed",
    ),
    "indicator": ("指标", "Indicator"),
    "project_total": ("项目全部", "Whole project"),
    "attributed": ("归属本贷款", "Attributed to the loan"),
    "attribution": ("归属方法", "Attribution"),
    "methodology": ("方法学", "Methodology"),
    "inputs": ("输入", "Inputs"),
    "factor_trail": ("因子来源", "Factor trail"),
    "factor": ("因子", "Factor"),
    "value": ("数值", "Value"),
    "unit": ("单位", "Unit"),
    "year": ("年份", "Year"),
    "source": ("来源", "Source"),
    "notes": ("备注", "Notes"),
    "pledges": ("环境权益质押", "Pledges"),
    "no_pledges": ("无质押", "No pledges"),
    "pledge_id": ("质押编号", "Pledge id"),
    "instrument": ("品种", "Instrument"),
    "quantity": ("数量", "Quantity"),
    "state": ("状态", "State"),
    "pledged_on": ("质押日期", "Pledged on"),
    "override_title": ("提出改判（需另一人复核）", "Propose an override (a second person approves)"),
    "override_item": ("改为目录条目", "Change to item"),
    "override_not_green": ("改为非绿色", "Change to not green"),
    "item_code_hint": ("例如 3.2.2.2", "e.g. 3.2.2.2"),
    "submit_override": ("提交复核", "Submit for approval"),
    "proposed": ("已提交，待复核", "Submitted: waiting for a checker"),
    "waiting": ("待复核", "Waiting for approval"),
    "proposal": ("复核编号", "Proposal"),
    # approvals
    "approvals_title": ("待复核操作", "Pending approvals"),
    "no_pending": ("没有待复核的操作", "Nothing is waiting for approval"),
    "kind": ("类型", "Kind"),
    "kind_label_override": ("改判绿色识别结果", "Label override"),
    "kind_pledge_register": ("质押登记", "Pledge registration"),
    "kind_pledge_release": ("解押", "Pledge release"),
    "kind_cerf_submit": ("报送碳减排支持工具批次", "CERF batch submission"),
    "proposed_change": ("提议内容", "Proposed change"),
    "maker": ("提出人", "Proposed by"),
    "made_at": ("提出时间", "Proposed at"),
    "note": ("复核意见", "Note"),
    "approve": ("批准", "Approve"),
    "reject": ("退回", "Reject"),
    "approved": ("已批准，改判已生效", "Approved: the override is in force"),
    "rejected": ("已退回", "Rejected"),
    "refused": ("未能处理", "Refused"),
    "checker_only": ("仅审批人可批准或退回", "Only a checker can approve or reject"),
    "not_yours": ("需其他审批权限", "Needs another approver's permission"),
    # import
    "import_title": ("导入贷款台账", "Import the loan book"),
    "import_hint": (
        "CSV 或 XLSX，可多选；全部通过校验才写入，否则不做任何修改",
        "CSV or XLSX, several at once; written only if every row passes, otherwise nothing changes",
    ),
    "files": ("文件", "Files"),
    "import_button": ("导入", "Import"),
    "import_done": ("导入完成", "Imported"),
    "import_rejected": ("导入被拒绝，未做任何修改", "Import rejected: nothing was changed"),
    "problems_found": ("发现问题", "Problems found"),
    "problems_shown": ("显示前", "showing the first"),
    "file": ("文件", "File"),
    "row": ("行", "Row"),
    "column": ("列", "Column"),
    "message": ("问题", "Problem"),
    "rows": ("行数", "Rows"),
    "table": ("对象", "Table"),
    "inserted": ("新增", "Inserted"),
    "updated": ("更新", "Updated"),
    "unchanged": ("未变", "Unchanged"),
    "batch": ("批次", "Batch"),
    "no_file": ("请选择文件", "Choose a file"),
    "table_loans": ("贷款", "Loans"),
    "table_borrowers": ("借款人", "Borrowers"),
    "table_projects": ("项目", "Projects"),
    # collateral
    "collateral_title": ("环境权益押品", "Environmental-rights collateral"),
    "valuation_policy": ("估值政策", "Valuation policy"),
    "pledges_valued": ("重估笔数", "Pledges valued"),
    "revalue": ("重估", "Revalue"),
    "revaluation_day": ("重估日期", "Revaluation date"),
    "revalued": ("重估完成", "Revaluation done"),
    "live_pledges": ("存续质押", "Live pledges"),
    "reference_price": ("参考价", "Reference price"),
    "price_day": ("价格日", "Price day"),
    "coverage": ("覆盖率", "Coverage"),
    "coverage_status": ("覆盖状态", "Coverage status"),
    "cstatus_normal": ("正常", "Normal"),
    "cstatus_warning": ("预警", "Warning"),
    "cstatus_liquidation": ("低于平仓线", "Below liquidation line"),
    "unpriced": ("未估值（无价格）", "Not valued (no price)"),
    "coverage_history": ("历次重估：覆盖率与预警", "Revaluations: coverage and alerts"),
    "coverage_total": ("合计覆盖率（%）", "Total coverage (%)"),
    "bad_date": ("日期应为 YYYY-MM-DD", "The date must be YYYY-MM-DD"),
    # CERF
    "cerf_title": ("碳减排支持工具批次", "CERF batch"),
    "quarter": ("季度", "Quarter"),
    "show": ("查看", "Show"),
    "run_batch": ("生成批次", "Run the batch"),
    "bad_quarter": ("季度格式应为 2026Q3", "The quarter must look like 2026Q3"),
    "no_batch_yet": ("本季度尚未生成批次", "No batch for this quarter yet"),
    "no_batch": ("批次不存在", "No such batch"),
    "batch_stale": (
        "此版批次生成后台账已变化，请重新生成批次后再下载",
        "The book changed since this revision: run the batch again, then download",
    ),
    "revision": ("版本", "Revision"),
    "revisions": ("历次版本", "Revisions"),
    "amends": ("更正", "amends"),
    "eligible_loans": ("合格贷款", "Eligible loans"),
    "excluded_loans": ("不纳入的贷款", "Excluded loans"),
    "no_eligible": ("本批次没有合格贷款", "No eligible loans in this batch"),
    "no_excluded": ("没有不纳入的贷款", "No loans were excluded"),
    "principal": ("本金", "Principal"),
    "facility": ("可申请再贷款", "Facility"),
    "download_disclosure": ("下载披露清单（XLSX）", "Download the disclosure list (XLSX)"),
    "download_verification": ("下载核验材料（XLSX）", "Download the verification package (XLSX)"),
    "submit_pending": ("待复核", "waiting for a checker"),
    "submit_approved": ("已批准报送", "submission approved"),
    "submit_rejected": ("已退回", "rejected"),
    "cerf_ran": ("批次已生成", "The batch was stored"),
    "cerf_unchanged": ("与已存批次相同，未作更改", "Same as the stored batch: nothing changed"),
    "cerf_proposed": ("已提交，待复核", "Submitted: waiting for a checker"),
    # reports
    "reports_title": ("监管报表", "Regulatory reports"),
    "stats_report": ("绿色贷款统计", "Green-loan statistics"),
    "stats_hint": (
        "按目录分类、行业、地区、五级分类、碳减排效益；每次生成留存快照，供下季、下年对比",
        "By catalogue, industry, region, five-tier class and carbon benefits; each run is kept for later comparison",
    ),
    "disclosure_report": ("环境信息披露报告", "Environmental disclosure"),
    "disclosure_hint": ("JR/T 0227-2021，年度", "JR/T 0227-2021, annual"),
    "as_of": ("统计时点", "As of"),
    "format": ("格式", "Format"),
    "download": ("生成并下载", "Generate and download"),
    "bad_format": ("不支持的格式", "Unsupported format"),
    # audit
    "audit_title": ("审计日志", "Audit log"),
    "audit_latest": ("最近记录", "Latest records"),
    "chain_check": ("哈希链校验", "Hash-chain check"),
    "chain_intact": ("完整", "intact"),
    "chain_broken": ("发现问题", "Problems found"),
    "records": ("条记录", "records"),
    "no_audit": ("尚无审计记录", "No audit records yet"),
    "entity": ("对象", "Entity"),
    "entity_id": ("对象编号", "Entity id"),
    # users
    "users_title": ("用户管理", "Users"),
    "display_name": ("姓名", "Display name"),
    "roles": ("角色", "Roles"),
    "active": ("启用", "Active"),
    "created_at": ("创建时间", "Created"),
    "yes": ("是", "yes"),
    "no": ("否", "no"),
    "add_user": ("添加用户", "Add a user"),
    "initial_password": ("初始密码（至少 8 个字符）", "Initial password (8 characters or more)"),
    "user_added": ("已添加用户", "User added"),
    "username_required": ("请填写用户名", "Enter a user name"),
    "roles_required": ("请至少选择一个角色", "Choose at least one role"),
    "password_short": ("密码至少 8 个字符", "The password must be at least 8 characters"),
    # errors
    "forbidden_title": ("无权限", "Not allowed"),
    "forbidden_text": ("您的角色不能执行此操作。", "Your role does not allow this."),
    "back_home": ("返回仪表盘", "Back to the dashboard"),
    "per_year": ("年", "yr"),
    "yuan": ("元", "CNY"),
}


def lang_of(value: str | None) -> str:
    """The language a cookie asks for; anything unknown falls back to Chinese."""
    return value if value in LANGS else DEFAULT_LANG


def translate(key: str, lang: str) -> str:
    """A label in ``lang``; an unknown key shows itself, so a missing label is seen, not hidden."""
    pair = MESSAGES.get(key)
    if pair is None:
        return key
    return pair[1] if lang == "en" else pair[0]


def translator(lang: str) -> Callable[[str], str]:
    """``t(key)`` for templates."""
    return lambda key: translate(key, lang)


def pick(message: str, lang: str) -> str:
    """The half of a service's ``中文 / English`` message in ``lang``; a one-language message whole."""
    zh, sep, en = message.partition(" / ")
    if not sep:
        return message
    return en.strip() if lang == "en" else zh.strip()
