"""Every enumeration of the domain, with its Chinese label beside the value (one place)."""

from .base import LabeledEnum


class RegionLevel(LabeledEnum):
    PROVINCE = ("province", "省")
    CITY = ("city", "市")
    COUNTY = ("county", "区县")
    TOWNSHIP = ("township", "乡镇/街道")
    VILLAGE = ("village", "村/社区")


class Gender(LabeledEnum):
    MALE = ("male", "男")
    FEMALE = ("female", "女")


class PoliticalStatus(LabeledEnum):
    CPC = ("cpc", "中共党员")
    PROBATIONARY = ("probationary", "中共预备党员")
    CYL = ("cyl", "共青团员")
    OTHER_PARTY = ("other_party", "民主党派")
    MASSES = ("masses", "群众")


class Education(LabeledEnum):
    PRIMARY = ("primary", "小学")
    JUNIOR = ("junior", "初中")
    SENIOR = ("senior", "高中/中专")
    COLLEGE = ("college", "大专")
    BACHELOR = ("bachelor", "本科")
    POSTGRAD = ("postgrad", "研究生")


class Service(LabeledEnum):
    ARMY = ("army", "陆军")
    NAVY = ("navy", "海军")
    AIR_FORCE = ("air_force", "空军")
    ROCKET_FORCE = ("rocket_force", "火箭军")
    ARMED_POLICE = ("armed_police", "武警部队")
    OTHER = ("other", "其他")


class DischargeType(LabeledEnum):
    SELF_EMPLOYED = ("self_employed", "自主就业")
    MONTHLY_PENSION = ("monthly_pension", "逐月领取退役金")
    RETIRED = ("retired", "退休")
    TRANSFERRED = ("transferred", "转业")
    DEMOBILISED = ("demobilised", "复员")
    GOV_PLACED = ("gov_placed", "政府安排工作")
    SUPPORTED = ("supported", "供养")


class EmploymentStatus(LabeledEnum):
    ENTERPRISE = ("enterprise", "企业")
    INDIVIDUAL = ("individual", "个体工商户")
    PROJECT = ("project", "项目筹划")
    FLEXIBLE = ("flexible", "灵活就业")
    PUBLIC_SECTOR = ("public_sector", "机关事业单位")
    FARMING = ("farming", "务农")
    UNEMPLOYED = ("unemployed", "待业")
    OTHER = ("other", "其他")


class MilitiaCategory(LabeledEnum):
    CORE = ("core", "基干民兵")
    ORDINARY = ("ordinary", "普通民兵")


class MilitiaUnitType(LabeledEnum):
    COMPANY = ("company", "连")
    PLATOON = ("platoon", "排")
    SQUAD = ("squad", "班")
    EMERGENCY = ("emergency", "应急分队")


class MilitiaRole(LabeledEnum):
    COMPANY_LEADER = ("company_leader", "连长")
    PLATOON_LEADER = ("platoon_leader", "排长")
    SQUAD_LEADER = ("squad_leader", "班长")
    MEMBER = ("member", "队员")


class PostSide(LabeledEnum):
    ARMED_FORCES = ("armed_forces", "武装部")
    STATION = ("station", "服务站")
    VILLAGE_STATION = ("village_station", "村服务站")
    MILITIA = ("militia", "民兵")


class QualificationKind(LabeledEnum):
    PAF_CADRE = ("paf_cadre", "专职人民武装干部资格")
    OTHER = ("other", "其他")


class DutyCategory(LabeledEnum):
    ARMED_FORCES = ("armed_forces", "武装工作主责")
    VETERANS = ("veterans", "退役军人服务主责")
    NON_CORE = ("non_core", "非主责")


class AdjustmentAction(LabeledEnum):
    ADD = ("add", "新增")
    REMOVE = ("remove", "移除")
    MOVE = ("move", "调整岗位")
    REWORD = ("reword", "改写")


class PlanStatus(LabeledEnum):
    PLANNED = ("planned", "计划中")
    IN_PROGRESS = ("in_progress", "进行中")
    DONE = ("done", "已完成")
    DROPPED = ("dropped", "已取消")


class RoomKind(LabeledEnum):
    OFFICE = ("office", "办公室")
    ACTIVITY = ("activity", "活动室")
    ARCHIVE = ("archive", "资料室")
    DUTY = ("duty", "值班室")
    HONOUR = ("honour", "荣誉室")
    OTHER = ("other", "其他")


class ServiceKind(LabeledEnum):
    REPORT_HOME = ("report_home", "返乡报到")
    POLICY = ("policy", "政策咨询")
    STARTUP = ("startup", "创业扶持")
    ASSISTANCE = ("assistance", "帮扶援助")
    VISIT = ("visit", "走访慰问")
    FILE_TRANSFER = ("file_transfer", "档案转递")
    OTHER = ("other", "其他")


class ServiceStatus(LabeledEnum):
    """受理 → 办理中 → 办结, or 转办 to the county (values kept from revision 0001)."""

    OPEN = ("open", "受理中")
    IN_PROGRESS = ("in_progress", "办理中")
    DONE = ("done", "已办结")
    REFERRED = ("referred", "已转办")


class TransferStatus(LabeledEnum):
    """户籍迁入: the receiving township asks, the sending township (or its county) hands over or refuses."""

    PENDING = ("pending", "待移交")
    DONE = ("done", "已移交")
    REFUSED = ("refused", "已拒绝")


class Role(LabeledEnum):
    CITY_ADMIN = ("city_admin", "市级管理员")
    COUNTY_ADMIN = ("county_admin", "区县管理员")
    CLERK = ("clerk", "乡镇工作人员")
    VIEWER = ("viewer", "只读查看")


ROLE_RANK = {Role.VIEWER: 0, Role.CLERK: 1, Role.COUNTY_ADMIN: 2, Role.CITY_ADMIN: 3}


class MilitiaMemberStatus(LabeledEnum):
    """A membership of the annual reorganisation: rolled over from last year (待确认) or confirmed."""

    PENDING = ("pending", "待确认")
    CONFIRMED = ("confirmed", "已确认")


class MilitaryRating(LabeledEnum):
    """军事素养 rating of a veteran (picks the militia emergency detachment, rule 8)."""

    EXCELLENT = ("excellent", "优秀")
    GOOD = ("good", "良好")
    PASS = ("pass", "合格")
    FAIL = ("fail", "不合格")


class VillageRole(LabeledEnum):
    """What a catalogue post is at village level (rule 3: 党组织负责人 = 村服务站站长, 民兵连长 = 干事(兼))."""

    PARTY_HEAD = ("party_head", "村党组织负责人")
    STATION_HEAD = ("station_head", "村服务站站长")
    STATION_OFFICER = ("station_officer", "村服务站干事")
    MILITIA_LEADER = ("militia_leader", "民兵连(排)长")
