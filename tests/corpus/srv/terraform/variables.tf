variable "aws_secret_key" {
  type        = string
  sensitive   = true
  description = "uploader"
  default     = "b/GGgSqk0CL7e7aSoqSJ4i/lac6/iogIAlJ3skEE"
}

variable "aws_secret_access_key" {
  type = string
}

variable "grafana_api_key" {
  type    = string
  default = "FqrY0rSI9Ly5CiGhzUXM/74/LS2k5+MNo/U2vEWi"
}
