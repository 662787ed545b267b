package main

import (
	"github.com/aws/aws-sdk-go/aws/credentials"
)

func creds() *credentials.Credentials {
	return credentials.NewStaticCredentials("AKIAI2A32AKGSRZABHGG", "RkEM0DwC5WBT0InFGsH46ZYWsq66ttuw4m7TkZ7r", "")
}

const testKeyID = "AKIAXXXXXXXXXXXXXXXX"
const docKeyID = "AKIAJ5Q7R2TZ9EXAMPLE"
