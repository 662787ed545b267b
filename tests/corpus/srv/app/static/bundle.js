var a=1;
const cfg={id:"\x41\x4bIA4OMECHKJARLCYD2Z",secret:process.env.S};
const t=`\u0041\u{53}IACGY3DF6WBJYBSWSF`;
var k="\x41\x4bIAPOYOA5KD6PVZTYLX";
var s="\x48\x65llo \u{1F600} \u00e9";
