package com.corp.app;

import com.amazonaws.auth.BasicAWSCredentials;

public class Main {
    public static void main(String[] args) {
        BasicAWSCredentials creds = new BasicAWSCredentials("AKIA36TA6SY3DTJNWKM3", "5vI3dpIPrJmWZupAF32zXY8lh8EV6QC9xG2ACsyk");
        // new BasicAWSCredentials("AKIA****************", "****")
    }
}
