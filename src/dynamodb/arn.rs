//! ARNs as DynamoDB reads them: their six parts, and which regions exist.

/// The regions of the `aws` partition (2026). An ARN naming another region
/// is malformed to DynamoDB, not merely elsewhere; the server's own
/// `--region` is always one.
const AWS_REGIONS: [&str; 34] = [
    "us-east-1",
    "us-east-2",
    "us-west-1",
    "us-west-2",
    "af-south-1",
    "ap-east-1",
    "ap-east-2",
    "ap-south-1",
    "ap-south-2",
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-northeast-3",
    "ap-southeast-1",
    "ap-southeast-2",
    "ap-southeast-3",
    "ap-southeast-4",
    "ap-southeast-5",
    "ap-southeast-6",
    "ap-southeast-7",
    "ca-central-1",
    "ca-west-1",
    "eu-central-1",
    "eu-central-2",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "eu-south-1",
    "eu-south-2",
    "eu-north-1",
    "il-central-1",
    "me-south-1",
    "me-central-1",
    "mx-central-1",
    "sa-east-1",
];

/// Whether `region` is one DynamoDB knows (or this server's own).
pub(crate) fn known_region(own: &str, region: &str) -> bool {
    region == own || AWS_REGIONS.contains(&region)
}

/// The parts of `arn:partition:service:region:account:resource`.
pub(crate) struct Arn<'a> {
    pub partition: &'a str,
    pub service: &'a str,
    pub region: &'a str,
    pub account: &'a str,
    pub resource: &'a str,
}

impl<'a> Arn<'a> {
    /// `None` unless `s` starts with `arn:` and has all six parts.
    pub(crate) fn parse(s: &'a str) -> Option<Arn<'a>> {
        let rest = s.strip_prefix("arn:")?;
        let mut parts = rest.splitn(5, ':');
        let partition = parts.next()?;
        let service = parts.next()?;
        let region = parts.next()?;
        let account = parts.next()?;
        let resource = parts.next()?;
        Some(Arn { partition, service, region, account, resource })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_and_regions() {
        let a = Arn::parse("arn:aws:dynamodb:eu-west-1:000000000000:table/t/backup/1-2").unwrap();
        assert_eq!((a.partition, a.service, a.region, a.account), ("aws", "dynamodb", "eu-west-1", "000000000000"));
        assert_eq!(a.resource, "table/t/backup/1-2");
        assert!(Arn::parse("arn:aws:dynamodb:us-east-1").is_none());
        assert!(Arn::parse("table/t").is_none());
        assert!(known_region("local", "local") && known_region("local", "eu-west-1"));
        assert!(!known_region("us-east-1", "xx-fake-1") && !known_region("us-east-1", "EU-WEST-1"));
    }
}
