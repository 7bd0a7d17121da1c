//! `hardway cloudformation BUNDLE`: an AWS CloudFormation template with one EC2 instance per node of
//! a rendered bundle (its gzip user-data inline) and, without a loadbalancer node, an internal NLB
//! whose target group holds the API servers. Built from the bundle's index.json and files only.

use crate::bundle::Bundle;
use crate::error::{Error, Result};
use base64::Engine;
use serde_json::{json, Map, Value};

/// CloudFormation logical IDs are alphanumeric.
fn logical_id(prefix: &str, name: &str) -> String {
    let mut s = String::from(prefix);
    let mut upper = true;
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            s.push(if upper { c.to_ascii_uppercase() } else { c });
            upper = false;
        } else {
            upper = true;
        }
    }
    s
}

/// The template of bundle `b` (`label` names it in errors). A redacted bundle is refused: its
/// user-data holds placeholders where the nodes' keys belong.
pub fn template(label: &str, b: &Bundle) -> Result<String> {
    let index = super::verify::verified(label, b)?.index;
    if index.redacted {
        return Err(Error::Bundle {
            path: label.into(),
            message: "is a redacted bundle (render --redact): its user-data holds placeholders where keys belong, so its instances could not start; use a bundle rendered without --redact".into(),
        });
    }
    let bad = |m: &str| Error::Bundle { path: label.into(), message: m.into() };
    let cluster = index.cluster.as_str();
    let nodes = &index.nodes;
    let any_arm = nodes.iter().any(|n| n.arch == "arm64");
    let mut params = Map::new();
    params.insert(
        "ImageId".into(),
        json!({"Type": "AWS::EC2::Image::Id", "Description": "Ubuntu 24.04 or Debian 12/13 image (amd64)"}),
    );
    params.insert(
        "InstanceType".into(),
        json!({"Type": "String", "Default": "t3.medium", "Description": "Instance type for amd64 nodes"}),
    );
    if any_arm {
        params.insert(
            "ArmImageId".into(),
            json!({"Type": "AWS::EC2::Image::Id", "Description": "Ubuntu 24.04 or Debian 12/13 image (arm64)"}),
        );
        params.insert(
            "ArmInstanceType".into(),
            json!({"Type": "String", "Default": "t4g.medium", "Description": "Instance type for arm64 nodes"}),
        );
    }
    params.insert(
        "SubnetId".into(),
        json!({"Type": "AWS::EC2::Subnet::Id", "Description": "Subnet holding every node's internalIP"}),
    );
    params.insert(
        "SecurityGroupId".into(),
        json!({"Type": "AWS::EC2::SecurityGroup::Id", "Description": "Security group for all nodes"}),
    );

    let mut resources = Map::new();
    let mut ids = std::collections::BTreeMap::new();
    for n in nodes {
        let name = n.name.as_str();
        let gz = b.get(&n.user_data_gzip).ok_or_else(|| bad(&format!("{} missing", n.user_data_gzip)))?;
        let arm = n.arch == "arm64";
        let id = logical_id("Node", name);
        let roles = &n.roles;
        resources.insert(
            id.clone(),
            json!({
                "Type": "AWS::EC2::Instance",
                "Properties": {
                    "ImageId": {"Ref": if arm { "ArmImageId" } else { "ImageId" }},
                    "InstanceType": {"Ref": if arm { "ArmInstanceType" } else { "InstanceType" }},
                    "SubnetId": {"Ref": "SubnetId"},
                    "SecurityGroupIds": [{"Ref": "SecurityGroupId"}],
                    "PrivateIpAddress": n.internal_ip,
                    // Pods of other nodes are routed through this instance.
                    "SourceDestCheck": false,
                    "MetadataOptions": {"HttpTokens": "required", "HttpPutResponseHopLimit": 1},
                    "UserData": base64::engine::general_purpose::STANDARD.encode(&gz.bytes),
                    "Tags": [
                        {"Key": "Name", "Value": name},
                        {"Key": "hardway:cluster", "Value": cluster},
                        {"Key": "hardway:roles", "Value": roles.join(",")},
                    ],
                },
            }),
        );
        ids.insert(name.to_string(), id);
    }
    let api = &index.api_server;
    let mut outputs = Map::new();
    if api.load_balancers.is_empty() {
        let port = api.port;
        params.insert("VpcId".into(), json!({"Type": "AWS::EC2::VPC::Id", "Description": "VPC of the subnet"}));
        let targets: Vec<Value> = api
            .targets
            .iter()
            .filter_map(|x| ids.get(&x.node))
            .map(|id| json!({"Id": {"Ref": id}, "Port": port}))
            .collect();
        resources.insert(
            "ApiTargetGroup".into(),
            json!({
                "Type": "AWS::ElasticLoadBalancingV2::TargetGroup",
                "Properties": {
                    "Protocol": "TCP",
                    "Port": port,
                    "VpcId": {"Ref": "VpcId"},
                    "TargetType": "instance",
                    "HealthCheckProtocol": api.health_check.protocol,
                    "HealthCheckPath": api.health_check.path,
                    "HealthCheckPort": api.health_check.port.to_string(),
                    "Targets": targets,
                },
            }),
        );
        resources.insert(
            "ApiLoadBalancer".into(),
            json!({
                "Type": "AWS::ElasticLoadBalancingV2::LoadBalancer",
                "Properties": {"Type": "network", "Scheme": "internal", "Subnets": [{"Ref": "SubnetId"}]},
            }),
        );
        resources.insert(
            "ApiListener".into(),
            json!({
                "Type": "AWS::ElasticLoadBalancingV2::Listener",
                "Properties": {
                    "LoadBalancerArn": {"Ref": "ApiLoadBalancer"},
                    "Port": port,
                    "Protocol": "TCP",
                    "DefaultActions": [{"Type": "forward", "TargetGroupArn": {"Ref": "ApiTargetGroup"}}],
                },
            }),
        );
        outputs.insert(
            "ApiLoadBalancerDNSName".into(),
            json!({
                "Description": format!("Point the cluster endpoint ({}) at this name", api.endpoint),
                "Value": {"Fn::GetAtt": ["ApiLoadBalancer", "DNSName"]},
            }),
        );
    }
    let t = json!({
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": format!(
            "hardway cluster {cluster}: one instance per node with its user-data (private keys inside: restrict who can read instance attributes). Generated by hardway cloudformation; upload to S3 (templates over 51,200 bytes cannot be passed inline)."
        ),
        "Parameters": params,
        "Resources": resources,
        "Outputs": outputs,
    });
    let mut s = serde_json::to_string_pretty(&t).map_err(|e| Error::internal("cloudformation", e))?;
    s.push('\n');
    Ok(s)
}

#[cfg(test)]
mod tests {
    #[test]
    fn logical_ids_are_alphanumeric() {
        assert_eq!(super::logical_id("Node", "worker-0"), "NodeWorker0");
        assert_eq!(super::logical_id("Node", "cp-a-1"), "NodeCpA1");
    }
}
