<?php
define('AWS_ACCESS_KEY_ID', 'AKIA' . 'RWEWZYRCBTQKPS7X');
$aws_secret_access_key = "yjDfwHNg43ZdDPd1no5n"."NyjATGxYFmj+k538UWpH";
$title = 'Monthly ' . 'report';
