//! Region ids and which EIP binding modes each offers, from the seeds' newest lists.

use super::Mode;

/// Every Alibaba Cloud region id eipsim accepts, with its console name.
pub const REGIONS: &[(&str, &str)] = &[
    ("cn-hangzhou", "China (Hangzhou)"),
    ("cn-shanghai", "China (Shanghai)"),
    ("cn-qingdao", "China (Qingdao)"),
    ("cn-beijing", "China (Beijing)"),
    ("cn-zhangjiakou", "China (Zhangjiakou)"),
    ("cn-huhehaote", "China (Hohhot)"),
    ("cn-wulanchabu", "China (Ulanqab)"),
    ("cn-shenzhen", "China (Shenzhen)"),
    ("cn-heyuan", "China (Heyuan)"),
    ("cn-guangzhou", "China (Guangzhou)"),
    ("cn-chengdu", "China (Chengdu)"),
    ("cn-nanjing", "China (Nanjing)"),
    ("cn-fuzhou", "China (Fuzhou)"),
    ("cn-hongkong", "China (Hong Kong)"),
    ("ap-northeast-1", "Japan (Tokyo)"),
    ("ap-northeast-2", "South Korea (Seoul)"),
    ("ap-southeast-1", "Singapore (Singapore)"),
    ("ap-southeast-2", "Australia (Sydney)"),
    ("ap-southeast-3", "Malaysia (Kuala Lumpur)"),
    ("ap-southeast-5", "Indonesia (Jakarta)"),
    ("ap-southeast-6", "Philippines (Manila)"),
    ("ap-southeast-7", "Thailand (Bangkok)"),
    ("ap-south-1", "India (Mumbai)"),
    ("us-east-1", "US (Virginia)"),
    ("us-west-1", "US (Silicon Valley)"),
    ("eu-west-1", "UK (London)"),
    ("eu-central-1", "Germany (Frankfurt)"),
    ("me-east-1", "UAE (Dubai)"),
    ("me-central-1", "Saudi Arabia (Riyadh)"),
    ("na-south-1", "Mexico"),
];

/// Regions offering cut-through mode (`BINDED`): the newest list, seed 001 step 2.
pub const BINDED_REGIONS: &[&str] = &[
    "cn-hangzhou",
    "cn-shanghai",
    "cn-qingdao",
    "cn-beijing",
    "cn-zhangjiakou",
    "cn-huhehaote",
    "cn-shenzhen",
    "cn-chengdu",
    "ap-southeast-1",
    "ap-southeast-5",
    "eu-central-1",
    "eu-west-1",
    "us-east-1",
];

/// Regions offering multi-EIP to ENI mode (`MULTI_BINDED`): the newest list, seed 003 step 2.
pub const MULTI_BINDED_REGIONS: &[&str] = &[
    "cn-shenzhen",
    "cn-shanghai",
    "cn-beijing",
    "cn-zhangjiakou",
    "cn-chengdu",
    "ap-southeast-1",
    "eu-central-1",
    "ap-south-1",
    "us-east-1",
    "eu-west-1",
];

/// Instance families a multi-EIP ENI may be attached to (seed 003, step 7).
pub const MULTI_BINDED_FAMILIES: &[&str] = &[
    "ecs.c5-618",
    "ecs.d1ne",
    "ecs.db11-se1ne",
    "ecs.ebma1",
    "ecs.ebmc4",
    "ecs.ebmg4",
    "ecs.ebmg5",
    "ecs.ebmg5ne",
    "ecs.ebmgn5i",
    "ecs.ebmgn5t",
    "ecs.ebmhfg4",
    "ecs.ebmhfg5",
    "ecs.ebmi2",
    "ecs.ebmi3",
    "ecs.ebmr4",
    "ecs.ebmr5",
    "ecs.elmd1ne",
    "ecs.elmdb",
    "ecs.f1",
    "ecs.f2",
    "ecs.g5-618",
    "ecs.gn3",
    "ecs.gn5d",
    "ecs.gn5i",
    "ecs.gn5t",
    "ecs.gn6p",
    "ecs.gn6v",
    "ecs.i2",
    "ecs.r1",
    "ecs.re4",
    "ecs.re4e",
    "ecs.sccg5",
    "ecs.sccgn6",
    "ecs.scch5",
    "ecs.x1.i2",
    "ecs.x1.i5",
    "ecs.x1.i6",
    "ecs.x1.i8",
    "ecs.g5",
    "ecs.c5",
    "ecs.r5",
    "ecs.t5",
    "ecs.sn2ne",
    "ecs.se1ne",
    "ecs.sn1ne",
];

/// The console name of a region id, if eipsim knows it.
pub fn region_name(id: &str) -> Option<&'static str> {
    REGIONS.iter().find(|(r, _)| *r == id).map(|(_, n)| *n)
}

/// Whether `region` offers `mode`. NAT mode exists in every region.
pub fn region_offers(region: &str, mode: Mode) -> bool {
    match mode {
        Mode::Nat => true,
        Mode::Binded => BINDED_REGIONS.contains(&region),
        Mode::MultiBinded => MULTI_BINDED_REGIONS.contains(&region),
    }
}

/// Whether an instance family (or an instance type such as `ecs.g5.large`) may carry a
/// multi-EIP ENI.
pub fn family_allows_multi_eip(family: &str) -> bool {
    MULTI_BINDED_FAMILIES.iter().any(|f| {
        family == *f
            || (family.len() > f.len()
                && family.starts_with(f)
                && family.as_bytes()[f.len()] == b'.')
    })
}
