variable "bundle_dir" {
  description = "A rendered hardway bundle (directory)"
  type        = string
  default     = "../../out/demo"
}

variable "ami_amd64" {
  description = "Ubuntu 24.04 or Debian 12/13 image for amd64 nodes"
  type        = string
}

variable "ami_arm64" {
  description = "Ubuntu 24.04 or Debian 12/13 image for arm64 nodes"
  type        = string
  default     = ""
}

variable "instance_type" {
  type    = string
  default = "t3.medium"
}

variable "instance_type_arm64" {
  type    = string
  default = "t4g.medium"
}

variable "subnet_id" {
  description = "Subnet that holds every node's internalIP"
  type        = string
}

variable "vpc_id" {
  type = string
}

variable "security_group_ids" {
  type    = list(string)
  default = []
}

variable "route_table_id" {
  description = "Route table that gets one route per worker pod range (empty: none)"
  type        = string
  default     = ""
}

variable "secrets_bucket" {
  description = "S3 bucket for the nodes' secrets archives (secrets.delivery: archive, s3 source)"
  type        = string
  default     = ""
}
