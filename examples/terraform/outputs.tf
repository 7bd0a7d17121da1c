output "instances" {
  description = "Instance ID per node"
  value       = { for name, i in aws_instance.node : name => i.id }
}

output "api_load_balancer_dns" {
  description = "Point the cluster endpoint at this name (when the bundle has no loadbalancer node)"
  value       = local.cloud_lb ? aws_lb.apiserver[0].dns_name : null
}
