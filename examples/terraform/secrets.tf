# secrets.delivery: archive with the s3 source (no private key in any user-data): one S3 object per node
# holding its secrets archive (secrets/<node>.tar, listed in index.json nodes[].secretsArchive), and an
# instance profile per node that may read, and delete, only its own object. Render with
#   secrets: {delivery: archive, source: {s3: {url: "s3://<secrets_bucket>/<cluster>/{node}.tar", deleteAfterFetch: true}}}
# Nodes whose bundle has no archive (inline delivery) get no object and no profile.

locals {
  archived = { for n in local.index.nodes : n.name => n if try(n.secretsArchive, null) != null }
}

resource "aws_s3_object" "secrets" {
  for_each = local.archived

  bucket                 = var.secrets_bucket
  key                    = "${local.index.cluster}/${each.key}.tar"
  source                 = "${var.bundle_dir}/${each.value.secretsArchive.path}"
  etag                   = filemd5("${var.bundle_dir}/${each.value.secretsArchive.path}")
  server_side_encryption = "aws:kms"
}

data "aws_iam_policy_document" "assume_ec2" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ec2.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "node" {
  for_each           = local.archived
  name               = "${local.index.cluster}-${each.key}"
  assume_role_policy = data.aws_iam_policy_document.assume_ec2.json
}

data "aws_iam_policy_document" "own_archive" {
  for_each = local.archived
  statement {
    actions   = ["s3:GetObject", "s3:DeleteObject"]
    resources = ["arn:aws:s3:::${var.secrets_bucket}/${local.index.cluster}/${each.key}.tar"]
  }
}

resource "aws_iam_role_policy" "own_archive" {
  for_each = local.archived
  role     = aws_iam_role.node[each.key].id
  policy   = data.aws_iam_policy_document.own_archive[each.key].json
}

resource "aws_iam_instance_profile" "node" {
  for_each = local.archived
  name     = "${local.index.cluster}-${each.key}"
  role     = aws_iam_role.node[each.key].name
}
