//! GraphiQL, served by Plexus itself: the page and its scripts come from the npm packages
//! vendored under `assets/graphiql` (see `SHA256SUMS`, refreshed by `just graphiql-assets`),
//! so the playground works without internet access.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};

const GRAPHIQL_JS: &[u8] = include_bytes!("../assets/graphiql/graphiql.min.js");
const GRAPHIQL_CSS: &[u8] = include_bytes!("../assets/graphiql/graphiql.min.css");
const REACT_JS: &[u8] = include_bytes!("../assets/graphiql/react.production.min.js");
const REACT_DOM_JS: &[u8] = include_bytes!("../assets/graphiql/react-dom.production.min.js");

/// The GraphiQL page for the endpoint at `endpoint`.
pub fn page(endpoint: &str) -> Html<String> {
    Html(PAGE.replace("{{ENDPOINT}}", endpoint))
}

/// A vendored asset by file name.
pub fn asset(name: &str) -> Response {
    let (body, mime) = match name {
        "graphiql.min.js" => (GRAPHIQL_JS, "text/javascript; charset=utf-8"),
        "graphiql.min.css" => (GRAPHIQL_CSS, "text/css; charset=utf-8"),
        "react.production.min.js" => (REACT_JS, "text/javascript; charset=utf-8"),
        "react-dom.production.min.js" => (REACT_DOM_JS, "text/javascript; charset=utf-8"),
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(mime)),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=86400"),
            ),
        ],
        body,
    )
        .into_response()
}

const PAGE: &str = r##"<!DOCTYPE html>
<html lang="en">
  <head>
    <meta charset="utf-8" />
    <meta name="viewport" content="width=device-width, initial-scale=1" />
    <meta name="robots" content="noindex" />
    <title>Plexus GraphiQL</title>
    <style>
      body { height: 100%; margin: 0; width: 100%; overflow: hidden; }
      #graphiql { height: 100vh; }
    </style>
    <link rel="stylesheet" href="/graphiql/graphiql.min.css" />
  </head>
  <body>
    <div id="graphiql">Loading GraphiQL…</div>
    <script src="/graphiql/react.production.min.js"></script>
    <script src="/graphiql/react-dom.production.min.js"></script>
    <script src="/graphiql/graphiql.min.js"></script>
    <script>
      (function () {
        // Subscriptions go over graphql-transport-ws at /graphql/ws; the socket carries the
        // Authorization saved in the Headers tab (reload the page after changing it).
        var saved = {};
        try { saved = JSON.parse(localStorage.getItem("graphiql:headers") || "{}") || {}; } catch (e) {}
        var auth = saved.Authorization || saved.authorization;
        var fetcher = GraphiQL.createFetcher({
          url: "{{ENDPOINT}}",
          subscriptionUrl: (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "{{ENDPOINT}}/ws",
          wsConnectionParams: auth ? { authorization: auth } : {}
        });
        var defaultQuery = [
          "# Welcome to Plexus.",
          "# Sign up or sign in, then put the access token in the Headers tab:",
          '#   { "Authorization": "Bearer <accessToken>" }',
          "",
          "mutation Register {",
          '  register(input: { email: "ada@example.com", password: "correct horse battery" }) {',
          "    accessToken",
          "    refreshToken",
          "    user { id email displayName }",
          "  }",
          "}",
          "",
          "query Viewer {",
          "  viewer { id email displayName createdAt }",
          "}",
          ""
        ].join("\n");
        ReactDOM.createRoot(document.getElementById("graphiql")).render(
          React.createElement(GraphiQL, {
            fetcher: fetcher,
            defaultQuery: defaultQuery,
            defaultEditorToolsVisibility: true,
            shouldPersistHeaders: true
          })
        );
      })();
    </script>
  </body>
</html>
"##;
