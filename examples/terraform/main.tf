# One EC2 instance per node of a hardway bundle, fed its gzip user-data, plus (when the bundle has no
# loadbalancer node) an internal NLB whose target group holds the API servers, and the pod routes.
# Everything comes from the bundle's index.json: render first (make demo), then
#   terraform init && terraform apply -var subnet_id=... -var vpc_id=... -var ami_amd64=...

terraform {
  required_version = ">= 1.5"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.0"
    }
  }
}

locals {
  index    = jsondecode(file("${var.bundle_dir}/index.json"))
  nodes    = { for n in local.index.nodes : n.name => n }
  api      = local.index.apiServer
  cloud_lb = length(local.api.loadBalancers) == 0
  routes   = { for r in local.index.routes : r.destination => r }
}

resource "aws_instance" "node" {
  for_each = local.nodes

  ami                    = each.value.arch == "arm64" ? var.ami_arm64 : var.ami_amd64
  instance_type          = each.value.arch == "arm64" ? var.instance_type_arm64 : var.instance_type
  subnet_id              = var.subnet_id
  vpc_security_group_ids = var.security_group_ids
  private_ip             = each.value.internalIP
  # Pods on other nodes are routed through this instance.
  source_dest_check = false
  # The user-data holds this node's private keys: keep it away from pods (IMDSv2, one hop).
  metadata_options {
    http_tokens                 = "required"
    http_put_response_hop_limit = 1
  }
  user_data_base64 = filebase64("${var.bundle_dir}/${each.value.userDataGzip}")
  # secrets.delivery: archive with the s3 source: the node reads (and deletes) its own archive (secrets.tf).
  iam_instance_profile = try(aws_iam_instance_profile.node[each.key].name, null)

  tags = {
    Name              = each.key
    "hardway:cluster" = local.index.cluster
    "hardway:roles"   = join(",", each.value.roles)
  }
}

resource "aws_lb" "apiserver" {
  count              = local.cloud_lb ? 1 : 0
  name               = "${local.index.cluster}-api"
  load_balancer_type = "network"
  internal           = true
  subnets            = [var.subnet_id]
}

resource "aws_lb_target_group" "apiserver" {
  count    = local.cloud_lb ? 1 : 0
  name     = "${local.index.cluster}-apiserver"
  port     = local.api.port
  protocol = "TCP"
  vpc_id   = var.vpc_id

  health_check {
    protocol = local.api.healthCheck.protocol
    path     = local.api.healthCheck.path
    port     = tostring(local.api.healthCheck.port)
  }
}

resource "aws_lb_target_group_attachment" "apiserver" {
  for_each = local.cloud_lb ? { for t in local.api.targets : t.node => t } : {}

  target_group_arn = aws_lb_target_group.apiserver[0].arn
  target_id        = aws_instance.node[each.key].id
  port             = each.value.port
}

resource "aws_lb_listener" "apiserver" {
  count             = local.cloud_lb ? 1 : 0
  load_balancer_arn = aws_lb.apiserver[0].arn
  port              = local.api.port
  protocol          = "TCP"

  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.apiserver[0].arn
  }
}

resource "aws_route" "pods" {
  for_each = var.route_table_id == "" ? {} : local.routes

  route_table_id         = var.route_table_id
  destination_cidr_block = each.value.destination
  network_interface_id   = aws_instance.node[each.value.node].primary_network_interface_id
}
