// A stand-in for Pexip's example external policy server, used as the
// baseline of Verdict's load test. It answers service configuration
// requests the way that example does: aliases starting with "my-vmr-" get a
// conference with PIN 2931, everything else a 404. Run it with
//   npm install express && PORT=3100 node server.js
const express = require("express");

const app = express();
const port = Number(process.env.PORT || 3100);

app.get("/policy/v1/service/configuration", (req, res) => {
  const alias = req.query.local_alias;
  if (typeof alias === "string" && /^my-vmr-/.test(alias)) {
    res.json({
      status: "success",
      action: "continue",
      result: {
        service_type: "conference",
        name: alias,
        service_tag: "my-service",
        description: "",
        call_tag: "",
        pin: "2931",
        guest_pin: "",
        guests_can_present: true,
        allow_guests: true,
        view: "five_mains_seven_pips",
        locked: false,
      },
    });
    return;
  }
  res.status(404).json({ status: "fail", action: "continue", result: {} });
});

app.listen(port, "127.0.0.1", () => console.log(`listening on 127.0.0.1:${port}`));
