//! Media: the GraphQL multipart request spec (single file, file list, one file in two
//! places, batches), the CSRF guard, type sniffing, the size limit, download access for
//! every role, Range requests, attachments, soft delete and voice interactions.

use base64::Engine as _;
use plexus_tests::{FilePart, TestApp, code, db_test};
use serde_json::{Value, json};

use crate::fixtures::{add_member, node, project, user};

const PNG_B64: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==";

fn png() -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(PNG_B64)
        .unwrap()
}

/// A PNG signature followed by padding, `len` bytes long.
fn big_png(len: usize) -> Vec<u8> {
    let mut v = png();
    v.resize(len, 0);
    v
}

fn elf() -> Vec<u8> {
    let mut v = vec![0x7f, b'E', b'L', b'F', 2, 1, 1, 0];
    v.resize(512, 0);
    v[16] = 2;
    v
}

fn wav() -> Vec<u8> {
    let mut v = b"RIFF\x24\x00\x00\x00WAVEfmt \x10\x00\x00\x00\x01\x00\x01\x00".to_vec();
    v.resize(256, 0);
    v
}

const FIELDS: &str = "id kind mimeType sizeBytes originalName url thumbnailUrl alt sha256 project { id } node { id }";

fn upload_ops(input: Value) -> Value {
    json!({
        "query": format!("mutation($i: UploadMediaInput!) {{ uploadMedia(input: $i) {{ media {{ {FIELDS} }} }} }}"),
        "variables": { "i": input },
    })
}

fn file<'a>(
    name: &'a str,
    filename: &'a str,
    content_type: &'a str,
    bytes: &'a [u8],
) -> FilePart<'a> {
    FilePart {
        name,
        filename,
        content_type,
        bytes,
    }
}

/// Uploads one file with `input` (its `file` filled from the part); returns the body.
async fn upload(
    app: &TestApp,
    token: Option<&str>,
    input: Value,
    filename: &str,
    bytes: &[u8],
) -> Value {
    let mut input = input;
    input["file"] = Value::Null;
    let (status, v) = app
        .multipart(
            upload_ops(input),
            json!({ "0": ["variables.i.file"] }),
            &[file("0", filename, "application/octet-stream", bytes)],
            token,
            true,
        )
        .await;
    assert_eq!(status, 200, "{v}");
    v
}

/// Uploads and returns the media object.
async fn uploaded(app: &TestApp, token: &str, input: Value, filename: &str, bytes: &[u8]) -> Value {
    let v = upload(app, Some(token), input, filename, bytes).await;
    assert!(v["errors"].is_null(), "upload failed: {v}");
    v["data"]["uploadMedia"]["media"].clone()
}

/// Files in the media directory (staging included).
fn stored_files(app: &TestApp) -> usize {
    let dir = plexus_server::config::media_dir(&app.state.config);
    let mut n = 0;
    for dir in [dir.clone(), dir.join(".staging")] {
        if let Ok(entries) = std::fs::read_dir(&dir) {
            n += entries
                .filter_map(Result::ok)
                .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
                .count();
        }
    }
    n
}

async fn status_of(app: &TestApp, path: &str, token: Option<&str>) -> u16 {
    app.get(path, token, &[]).await.status().as_u16()
}

db_test!(a_single_file_is_stored_and_served, |app| async move {
    let (ada, _) = user(&app, "ada").await;
    let (bob, _) = user(&app, "bob").await;
    let bytes = png();
    // The client's name loses its directories; its content type is ignored.
    let m = uploaded(
        &app,
        &ada,
        json!({ "alt": "a cat" }),
        "../../cat.png",
        &bytes,
    )
    .await;
    assert!(m["id"].as_str().unwrap().starts_with("media_"), "{m}");
    assert_eq!(m["kind"], json!("IMAGE"));
    assert_eq!(m["mimeType"], json!("image/png"));
    assert_eq!(m["sizeBytes"], json!(bytes.len()));
    assert_eq!(m["originalName"], json!("cat.png"));
    assert_eq!(m["alt"], json!("a cat"));
    assert_eq!(
        m["thumbnailUrl"],
        json!(format!("/media/{}/thumbnail", m["id"].as_str().unwrap()))
    );
    let url = m["url"].as_str().unwrap().to_string();
    assert_eq!(url, format!("/media/{}", m["id"].as_str().unwrap()));
    assert_eq!(app.count("media").await, 1);

    let resp = app.get(&url, Some(&ada), &[]).await;
    assert_eq!(resp.status().as_u16(), 200);
    let h = resp.headers().clone();
    assert_eq!(h["content-type"], "image/png");
    assert_eq!(h["content-length"], bytes.len().to_string().as_str());
    let etag = format!("\"{}\"", m["sha256"].as_str().unwrap());
    assert_eq!(h["etag"], etag.as_str());
    assert_eq!(h["accept-ranges"], "bytes");
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert!(
        h["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("inline; filename=\"cat.png\"")
    );
    assert_eq!(resp.bytes().await.unwrap().as_ref(), bytes.as_slice());
    let resp = app.get(&url, Some(&ada), &[("if-none-match", &etag)]).await;
    assert_eq!(resp.status().as_u16(), 304);

    // Nobody else sees it; unknown and malformed ids look the same.
    assert_eq!(status_of(&app, &url, None).await, 404);
    assert_eq!(status_of(&app, &url, Some(&bob)).await, 404);
    assert_eq!(status_of(&app, &url, Some("not-a-token")).await, 401);
    assert_eq!(
        status_of(&app, "/media/media_00000000000000000000000000", Some(&ada)).await,
        404
    );
    assert_eq!(status_of(&app, "/media/garbage", Some(&ada)).await, 404);
    let proj_id = project(&app, &ada, "P", false).await;
    assert_eq!(
        status_of(&app, &format!("/media/{proj_id}"), Some(&ada)).await,
        404
    );

    // node(id) and the viewer's list.
    let q = "query($id: ID!) { node(id: $id) { __typename ... on Media { originalName } } }";
    let v = app.gql(q, json!({ "id": m["id"] }), Some(&ada)).await;
    assert_eq!(v["data"]["node"]["__typename"], json!("Media"), "{v}");
    let v = app.gql(q, json!({ "id": m["id"] }), Some(&bob)).await;
    assert_eq!(v["data"]["node"], Value::Null, "{v}");
    let list = "query($f: MediaFilterInput) { media(filter: $f) { totalCount nodes { id } } }";
    let v = app.gql(list, json!({}), Some(&ada)).await;
    assert_eq!(v["data"]["media"]["totalCount"], json!(1), "{v}");
    let v = app
        .gql(list, json!({ "f": { "kind": "DOCUMENT" } }), Some(&ada))
        .await;
    assert_eq!(v["data"]["media"]["totalCount"], json!(0), "{v}");
    let v = app.gql(list, json!({}), Some(&bob)).await;
    assert_eq!(v["data"]["media"]["totalCount"], json!(0), "{v}");

    // The JSON body limit (1 MiB here) does not apply to uploads, which have their own.
    let large = big_png(1536 * 1024);
    let m = uploaded(&app, &ada, json!({}), "large.png", &large).await;
    assert_eq!(m["sizeBytes"], json!(large.len()));
    let got = app.get(m["url"].as_str().unwrap(), Some(&ada), &[]).await;
    assert_eq!(got.bytes().await.unwrap().len(), large.len());
    // Anonymous uploads are refused, and leave nothing.
    let v = upload(&app, None, json!({}), "x.png", &bytes).await;
    assert_eq!(code(&v), "UNAUTHENTICATED");
    assert_eq!(app.count("media").await, 2);
    assert_eq!(stored_files(&app), 2);
});

db_test!(
    the_multipart_spec_file_lists_shared_files_and_batches,
    |app| async move {
        let (ada, _) = user(&app, "ada").await;
        let (png, wav) = (png(), wav());

        // A file list.
        let ops = json!({
            "query": "mutation($files: [Upload!]!) { uploadMediaFiles(input: { files: $files }) { media { originalName mimeType } } }",
            "variables": { "files": [null, null] },
        });
        let map = json!({ "0": ["variables.files.0"], "1": ["variables.files.1"] });
        let files = [
            file("0", "a.png", "image/png", &png),
            file("1", "b.wav", "audio/wav", &wav),
        ];
        let (status, v) = app
            .multipart(ops.clone(), map.clone(), &files, Some(&ada), true)
            .await;
        assert_eq!(status, 200, "{v}");
        assert_eq!(
            v["data"]["uploadMediaFiles"]["media"],
            json!([
                { "originalName": "a.png", "mimeType": "image/png" },
                { "originalName": "b.wav", "mimeType": "audio/x-wav" }
            ]),
            "{v}"
        );

        // All or nothing: one bad file in the list stores none of them.
        let bad = elf();
        let files = [
            file("0", "a.png", "image/png", &png),
            file("1", "b.png", "image/png", &bad),
        ];
        let before = (app.count("media").await, stored_files(&app));
        let (_, v) = app.multipart(ops, map, &files, Some(&ada), true).await;
        assert_eq!(code(&v), "BAD_USER_INPUT", "{v}");
        assert_eq!(v["errors"][0]["extensions"]["field"], json!("files"));
        assert_eq!((app.count("media").await, stored_files(&app)), before);

        // One file in two places.
        let ops = json!({
            "query": "mutation($a: Upload!, $b: Upload!) { x: uploadMedia(input: { file: $a }) { media { id sha256 sizeBytes } } y: uploadMedia(input: { file: $b, alt: \"again\" }) { media { id sha256 sizeBytes alt } } }",
            "variables": { "a": null, "b": null },
        });
        let map = json!({ "0": ["variables.a", "variables.b"] });
        let (status, v) = app
            .multipart(
                ops,
                map,
                &[file("0", "same.png", "image/png", &png)],
                Some(&ada),
                true,
            )
            .await;
        assert_eq!(status, 200, "{v}");
        let (x, y) = (&v["data"]["x"]["media"], &v["data"]["y"]["media"]);
        assert_ne!(x["id"], y["id"], "{v}");
        assert_eq!(x["sha256"], y["sha256"]);
        assert_eq!(x["sizeBytes"], json!(png.len()));
        assert_eq!(y["sizeBytes"], json!(png.len()));
        assert_eq!(y["alt"], json!("again"));

        // Batched operations, each with its own file.
        let op = "mutation($file: Upload!) { uploadMedia(input: { file: $file }) { media { originalName } } }";
        let ops = json!([
            { "query": op, "variables": { "file": null } },
            { "query": op, "variables": { "file": null } },
        ]);
        let map = json!({ "0": ["0.variables.file"], "1": ["1.variables.file"] });
        let files = [
            file("0", "first.png", "image/png", &png),
            file("1", "second.png", "image/png", &png),
        ];
        let (status, v) = app.multipart(ops, map, &files, Some(&ada), true).await;
        assert_eq!(status, 200, "{v}");
        assert_eq!(
            v[0]["data"]["uploadMedia"]["media"]["originalName"],
            json!("first.png"),
            "{v}"
        );
        assert_eq!(
            v[1]["data"]["uploadMedia"]["media"]["originalName"],
            json!("second.png"),
            "{v}"
        );
        assert_eq!(app.count("media").await, 6);
        assert_eq!(stored_files(&app), 6);

        // Malformed requests: no map, a map naming a missing file.
        let ops = upload_ops(json!({ "file": null }));
        let boundary = "b0undary";
        let body = format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"operations\"\r\n\r\n{ops}\r\n--{boundary}--\r\n"
        );
        let resp = app
            .http
            .post(app.url("/graphql"))
            .header(
                "content-type",
                format!("multipart/form-data; boundary={boundary}"),
            )
            .header("x-plexus-csrf", "1")
            .bearer_auth(&ada)
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 400);
        let v: Value = resp.json().await.unwrap();
        assert_eq!(code(&v), "BAD_REQUEST", "{v}");
        let (status, v) = app
            .multipart(
                upload_ops(json!({ "file": null })),
                json!({ "0": ["variables.i.file"] }),
                &[],
                Some(&ada),
                true,
            )
            .await;
        assert_eq!(status, 400, "{v}");
        assert_eq!(code(&v), "BAD_REQUEST");
    }
);

db_test!(
    multipart_without_a_preflight_header_is_refused,
    |app| async move {
        let (ada, _) = user(&app, "ada").await;
        let png = png();
        let (status, v) = app
            .multipart(
                upload_ops(json!({ "file": null })),
                json!({ "0": ["variables.i.file"] }),
                &[file("0", "a.png", "image/png", &png)],
                Some(&ada),
                false,
            )
            .await;
        assert_eq!(status, 400, "{v}");
        assert_eq!(code(&v), "CSRF_PREVENTED");
        assert!(
            v["errors"][0]["message"]
                .as_str()
                .unwrap()
                .contains("apollo-require-preflight")
        );
        assert_eq!(app.count("media").await, 0);
        // Apollo's header works as well as ours.
        let body = plexus_tests::multipart_body(
            "bnd",
            &upload_ops(json!({ "file": null })),
            &json!({ "0": ["variables.i.file"] }),
            &[file("0", "a.png", "image/png", &png)],
        );
        let resp = app
            .http
            .post(app.url("/graphql"))
            .header("content-type", "multipart/form-data; boundary=bnd")
            .header("apollo-require-preflight", "true")
            .bearer_auth(&ada)
            .body(body)
            .send()
            .await
            .unwrap();
        let v: Value = resp.json().await.unwrap();
        assert!(v["errors"].is_null(), "{v}");
        assert_eq!(app.count("media").await, 1);
    }
);

db_test!(types_are_sniffed_from_the_bytes, |app| async move {
    let (ada, _) = user(&app, "ada").await;
    // A renamed executable is not an image.
    let v = upload(&app, Some(&ada), json!({}), "cat.png", &elf()).await;
    assert_eq!(code(&v), "BAD_USER_INPUT", "{v}");
    assert_eq!(v["errors"][0]["extensions"]["field"], json!("file"));
    let mut pe = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff".to_vec();
    pe.resize(256, 0);
    let v = upload(&app, Some(&ada), json!({}), "photo.jpg", &pe).await;
    assert_eq!(code(&v), "BAD_USER_INPUT", "{v}");
    let v = upload(&app, Some(&ada), json!({}), "empty.png", b"").await;
    assert_eq!(code(&v), "BAD_USER_INPUT", "{v}");
    assert_eq!(app.count("media").await, 0);
    assert_eq!(stored_files(&app), 0);
    // Text claimed as an image is stored as what it is.
    let m = uploaded(&app, &ada, json!({}), "notes.png", b"just some notes\n").await;
    assert_eq!(
        (m["mimeType"].clone(), m["kind"].clone()),
        (json!("text/plain"), json!("DOCUMENT"))
    );
    let m = uploaded(
        &app,
        &ada,
        json!({}),
        "paper",
        b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n",
    )
    .await;
    assert_eq!(
        (m["mimeType"].clone(), m["kind"].clone()),
        (json!("application/pdf"), json!("DOCUMENT"))
    );
    let resp = app.get(m["url"].as_str().unwrap(), Some(&ada), &[]).await;
    assert_eq!(resp.headers()["content-type"], "application/pdf");
});

db_test!(
    the_allow_list_is_configurable,
    |c| c.media_allowed_types = vec!["image/*".into()],
    |app| async move {
        let (ada, _) = user(&app, "ada").await;
        let v = upload(&app, Some(&ada), json!({}), "a.txt", b"text").await;
        assert_eq!(code(&v), "BAD_USER_INPUT", "{v}");
        assert!(
            v["errors"][0]["message"]
                .as_str()
                .unwrap()
                .contains("text/plain")
        );
        uploaded(&app, &ada, json!({}), "a.png", &png()).await;
    }
);

db_test!(
    files_over_the_size_limit_are_refused,
    |c| c.media_max_bytes = 1000,
    |app| async move {
        let (ada, _) = user(&app, "ada").await;
        let (status, v) = app
            .multipart(
                upload_ops(json!({ "file": null })),
                json!({ "0": ["variables.i.file"] }),
                &[file("0", "big.png", "image/png", &big_png(5000))],
                Some(&ada),
                true,
            )
            .await;
        assert_eq!(status, 413, "{v}");
        assert_eq!(code(&v), "PAYLOAD_TOO_LARGE");
        assert_eq!(app.count("media").await, 0);
        assert_eq!(stored_files(&app), 0);
        let m = uploaded(&app, &ada, json!({}), "ok.png", &big_png(1000)).await;
        assert_eq!(m["sizeBytes"], json!(1000));
    }
);

/// Every role's token for one private project (plus an outsider).
struct Roles {
    owner: String,
    admin: String,
    editor: String,
    member: String,
    viewer: String,
    outsider: String,
    project: String,
}

async fn roles(app: &TestApp) -> Roles {
    let (owner, _) = user(app, "owner").await;
    let p = project(app, &owner, "Private", false).await;
    let mut tokens = vec![];
    for role in ["ADMIN", "EDITOR", "MEMBER", "VIEWER"] {
        let (t, id) = user(app, &role.to_lowercase()).await;
        let v = add_member(app, &owner, &p, &id, role).await;
        assert!(v["errors"].is_null(), "{v}");
        tokens.push(t);
    }
    let (outsider, _) = user(app, "outsider").await;
    let mut it = tokens.into_iter();
    Roles {
        owner,
        admin: it.next().unwrap(),
        editor: it.next().unwrap(),
        member: it.next().unwrap(),
        viewer: it.next().unwrap(),
        outsider,
        project: p,
    }
}

db_test!(
    downloads_follow_the_attachment_for_every_role,
    |app| async move {
        let r = roles(&app).await;
        let n = node(&app, &r.owner, &r.project, "a prompt", &[]).await;
        let png = png();
        // Attaching needs edit rights: members and viewers may not, outsiders cannot see it.
        for t in [&r.member, &r.viewer] {
            let v = upload(&app, Some(t), json!({ "nodeId": n }), "x.png", &png).await;
            assert_eq!(code(&v), "FORBIDDEN", "{v}");
        }
        let v = upload(
            &app,
            Some(&r.outsider),
            json!({ "projectId": r.project }),
            "x.png",
            &png,
        )
        .await;
        assert_eq!(code(&v), "BAD_USER_INPUT", "{v}");
        assert_eq!(v["errors"][0]["extensions"]["field"], json!("projectId"));
        let other = project(&app, &r.owner, "Other", false).await;
        let v = upload(
            &app,
            Some(&r.owner),
            json!({ "nodeId": n, "projectId": other }),
            "x.png",
            &png,
        )
        .await;
        assert_eq!(code(&v), "BAD_USER_INPUT", "{v}");
        assert_eq!(app.count("media").await, 0);

        let on_node = uploaded(&app, &r.editor, json!({ "nodeId": n }), "node.png", &png).await;
        assert_eq!(on_node["node"]["id"], json!(n));
        assert_eq!(on_node["project"]["id"], json!(r.project));
        let on_project = uploaded(
            &app,
            &r.admin,
            json!({ "projectId": r.project }),
            "p.png",
            &png,
        )
        .await;
        let private = uploaded(&app, &r.outsider, json!({}), "mine.png", &png).await;
        for m in [&on_node, &on_project] {
            let url = m["url"].as_str().unwrap();
            for t in [&r.owner, &r.admin, &r.editor, &r.member, &r.viewer] {
                assert_eq!(status_of(&app, url, Some(t)).await, 200, "{url}");
            }
            assert_eq!(status_of(&app, url, Some(&r.outsider)).await, 404);
            assert_eq!(status_of(&app, url, None).await, 404);
        }
        // A file attached to nothing is its owner's alone.
        let url = private["url"].as_str().unwrap();
        assert_eq!(status_of(&app, url, Some(&r.outsider)).await, 200);
        assert_eq!(status_of(&app, url, Some(&r.owner)).await, 404);

        // A public project's files are anyone's to read.
        let v = app
        .gql(
            "mutation($i: UpdateProjectInput!) { updateProject(input: $i) { project { isPublic } } }",
            json!({ "i": { "id": r.project, "isPublic": true } }),
            Some(&r.owner),
        )
        .await;
        assert!(v["errors"].is_null(), "{v}");
        let url = on_node["url"].as_str().unwrap();
        assert_eq!(status_of(&app, url, None).await, 200);
        assert_eq!(status_of(&app, url, Some(&r.outsider)).await, 200);
        // ...but not to attach to.
        let v = upload(
            &app,
            Some(&r.outsider),
            json!({ "nodeId": n }),
            "x.png",
            &png,
        )
        .await;
        assert_eq!(code(&v), "FORBIDDEN", "{v}");
    }
);

/// Starts a conversation over the API (in `project`, if given); returns its global id.
async fn conversation(app: &TestApp, token: &str, project: Option<&str>) -> String {
    let v = app
        .gql(
            "mutation($i: CreateConversationInput!) { createConversation(input: $i) { conversation { id } } }",
            json!({ "i": { "projectId": project } }),
            Some(token),
        )
        .await;
    v["data"]["createConversation"]["conversation"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("createConversation: {v}"))
        .to_string()
}

db_test!(
    conversation_attachments_follow_the_conversation,
    |app| async move {
        let (ada, _) = user(&app, "ada").await;
        let (bob, _) = user(&app, "bob").await;
        let (member, member_id) = user(&app, "member").await;
        let (viewer, viewer_id) = user(&app, "viewer").await;
        let png = png();
        // A private conversation: its owner alone.
        let conv = conversation(&app, &ada, None).await;
        let v = upload(
            &app,
            Some(&bob),
            json!({ "conversationId": conv }),
            "x.png",
            &png,
        )
        .await;
        assert_eq!(code(&v), "BAD_USER_INPUT", "{v}");
        assert_eq!(
            v["errors"][0]["extensions"]["field"],
            json!("conversationId")
        );
        let m = uploaded(
            &app,
            &ada,
            json!({ "conversationId": conv }),
            "chat.png",
            &png,
        )
        .await;
        let url = m["url"].as_str().unwrap();
        assert_eq!(status_of(&app, url, Some(&ada)).await, 200);
        assert_eq!(status_of(&app, url, Some(&bob)).await, 404);
        let q = "query($id: ID!) { node(id: $id) { ... on Media { conversationId } } }";
        let v = app.gql(q, json!({ "id": m["id"] }), Some(&ada)).await;
        assert_eq!(v["data"]["node"]["conversationId"], json!(conv), "{v}");

        // In a project: its readers see the attachments, its writers (MEMBER and above)
        // attach, a VIEWER only reads, outsiders see nothing.
        let p = project(&app, &ada, "team", false).await;
        add_member(&app, &ada, &p, &member_id, "MEMBER").await;
        add_member(&app, &ada, &p, &viewer_id, "VIEWER").await;
        let team = conversation(&app, &ada, Some(&p)).await;
        let m = uploaded(
            &app,
            &member,
            json!({ "conversationId": team }),
            "from-member.png",
            &png,
        )
        .await;
        let url = m["url"].as_str().unwrap();
        for (token, status) in [(&ada, 200), (&member, 200), (&viewer, 200), (&bob, 404)] {
            assert_eq!(status_of(&app, url, Some(token)).await, status);
        }
        let v = upload(
            &app,
            Some(&viewer),
            json!({ "conversationId": team }),
            "v.png",
            &png,
        )
        .await;
        assert_eq!(code(&v), "FORBIDDEN", "{v}");
        // The conversation lists its files for its readers.
        let q = "query($id: ID!) { conversation(id: $id) { media { totalCount nodes { id originalName } } } }";
        let v = app.gql(q, json!({ "id": team }), Some(&viewer)).await;
        assert_eq!(
            v["data"]["conversation"]["media"],
            json!({ "totalCount": 1, "nodes": [{ "id": m["id"], "originalName": "from-member.png" }] }),
            "{v}"
        );
    }
);

db_test!(range_requests_serve_parts, |app| async move {
    let (ada, _) = user(&app, "ada").await;
    let text: Vec<u8> = (0..1000).map(|i| b'0' + (i % 10) as u8).collect();
    let m = uploaded(&app, &ada, json!({}), "digits.txt", &text).await;
    let url = m["url"].as_str().unwrap();
    let etag = format!("\"{}\"", m["sha256"].as_str().unwrap());
    for (range, start, end) in [
        ("bytes=0-9", 0, 9),
        ("bytes=990-", 990, 999),
        ("bytes=-5", 995, 999),
        ("bytes=500-5000", 500, 999),
    ] {
        let resp = app.get(url, Some(&ada), &[("range", range)]).await;
        assert_eq!(resp.status().as_u16(), 206, "{range}");
        let h = resp.headers().clone();
        assert_eq!(
            h["content-range"],
            format!("bytes {start}-{end}/1000").as_str(),
            "{range}"
        );
        assert_eq!(h["content-length"], (end - start + 1).to_string().as_str());
        assert_eq!(h["content-type"], "text/plain");
        assert_eq!(
            resp.bytes().await.unwrap().as_ref(),
            &text[start..=end],
            "{range}"
        );
    }
    let resp = app.get(url, Some(&ada), &[("range", "bytes=1000-")]).await;
    assert_eq!(resp.status().as_u16(), 416);
    assert_eq!(resp.headers()["content-range"], "bytes */1000");
    // A stale If-Range gets the whole file; a current one the part.
    let resp = app
        .get(
            url,
            Some(&ada),
            &[("range", "bytes=0-9"), ("if-range", "\"stale\"")],
        )
        .await;
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(resp.bytes().await.unwrap().len(), 1000);
    let resp = app
        .get(
            url,
            Some(&ada),
            &[("range", "bytes=0-9"), ("if-range", &etag)],
        )
        .await;
    assert_eq!(resp.status().as_u16(), 206);
    // Several ranges: the whole file.
    let resp = app
        .get(url, Some(&ada), &[("range", "bytes=0-1,5-6")])
        .await;
    assert_eq!(resp.status().as_u16(), 200);
    // Ranges are checked after access: others still get 404.
    let (bob, _) = user(&app, "bob").await;
    let resp = app.get(url, Some(&bob), &[("range", "bytes=0-9")]).await;
    assert_eq!(resp.status().as_u16(), 404);
});

db_test!(
    files_list_on_nodes_and_projects_change_and_delete,
    |app| async move {
        let r = roles(&app).await;
        let n = node(&app, &r.owner, &r.project, "a prompt", &[]).await;
        let png = png();
        let a = uploaded(&app, &r.editor, json!({ "nodeId": n }), "a.png", &png).await;
        let b = uploaded(
            &app,
            &r.editor,
            json!({ "projectId": r.project }),
            "b.txt",
            b"notes",
        )
        .await;
        let q = "query($p: ID!, $n: ID!) { project(id: $p) { media { totalCount nodes { originalName } } nodes { nodes { id media { totalCount nodes { originalName } } } } } graphNode(id: $n) { media(first: 1) { totalCount nodes { id } pageInfo { hasNextPage } } } }";
        let v = app
            .gql(q, json!({ "p": r.project, "n": n }), Some(&r.viewer))
            .await;
        assert!(v["errors"].is_null(), "{v}");
        assert_eq!(v["data"]["project"]["media"]["totalCount"], json!(2), "{v}");
        assert_eq!(
            v["data"]["project"]["nodes"]["nodes"][0]["media"]["nodes"][0]["originalName"],
            json!("a.png")
        );
        assert_eq!(v["data"]["graphNode"]["media"]["totalCount"], json!(1));
        let list = "query($f: MediaFilterInput) { media(filter: $f) { totalCount } }";
        let v = app
            .gql(
                list,
                json!({ "f": { "projectId": r.project, "kind": "IMAGE" } }),
                Some(&r.member),
            )
            .await;
        assert_eq!(v["data"]["media"]["totalCount"], json!(1), "{v}");
        let v = app
            .gql(
                list,
                json!({ "f": { "projectId": r.project } }),
                Some(&r.outsider),
            )
            .await;
        assert_eq!(code(&v), "NOT_FOUND", "{v}");

        // Only the owner changes a file: others who see it get FORBIDDEN, the rest NOT_FOUND.
        let upd = "mutation($i: UpdateMediaInput!) { updateMedia(input: $i) { media { alt metadata node { id } project { id } } } }";
        let v = app
            .gql(
                upd,
                json!({ "i": { "id": a["id"], "alt": "x" } }),
                Some(&r.owner),
            )
            .await;
        assert_eq!(code(&v), "FORBIDDEN", "{v}");
        let v = app
            .gql(
                upd,
                json!({ "i": { "id": a["id"], "alt": "x" } }),
                Some(&r.outsider),
            )
            .await;
        assert_eq!(code(&v), "NOT_FOUND", "{v}");
        let v = app
        .gql(upd, json!({ "i": { "id": a["id"], "alt": "diagram", "metadata": { "w": 1 }, "nodeId": null } }), Some(&r.editor))
        .await;
        let m = &v["data"]["updateMedia"]["media"];
        assert_eq!(m["alt"], json!("diagram"), "{v}");
        assert_eq!(m["metadata"], json!({ "w": 1 }));
        assert_eq!(
            (m["node"].clone(), m["project"].clone()),
            (Value::Null, Value::Null)
        );
        let v = app
            .gql(
                upd,
                json!({ "i": { "id": a["id"], "nodeId": n } }),
                Some(&r.editor),
            )
            .await;
        assert_eq!(
            v["data"]["updateMedia"]["media"]["node"]["id"],
            json!(n),
            "{v}"
        );
        let v = app
            .gql(
                upd,
                json!({ "i": { "id": a["id"], "metadata": "nope" } }),
                Some(&r.editor),
            )
            .await;
        assert_eq!(code(&v), "BAD_USER_INPUT", "{v}");

        // Soft delete: gone from every read and download, the row (and bytes) kept for the purge.
        let del = "mutation($i: DeleteMediaInput!) { deleteMedia(input: $i) { deletedId } }";
        let v = app
            .gql(del, json!({ "i": { "id": b["id"] } }), Some(&r.viewer))
            .await;
        assert_eq!(code(&v), "FORBIDDEN", "{v}");
        let v = app
            .gql(del, json!({ "i": { "id": b["id"] } }), Some(&r.editor))
            .await;
        assert_eq!(v["data"]["deleteMedia"]["deletedId"], b["id"], "{v}");
        assert_eq!(
            status_of(&app, b["url"].as_str().unwrap(), Some(&r.editor)).await,
            404
        );
        let v = app
            .gql(q, json!({ "p": r.project, "n": n }), Some(&r.viewer))
            .await;
        assert_eq!(v["data"]["project"]["media"]["totalCount"], json!(1), "{v}");
        let v = app
            .gql(del, json!({ "i": { "id": b["id"] } }), Some(&r.editor))
            .await;
        assert_eq!(code(&v), "NOT_FOUND", "{v}");
        assert_eq!(app.count("media").await, 2);
        assert_eq!(app.state.api.media.purge_deleted(0).await.unwrap(), 1);
        assert_eq!(app.count("media").await, 1);
        assert_eq!(stored_files(&app), 1);
    }
);

db_test!(
    voice_interactions_are_recorded_and_listed,
    |app| async move {
        let r = roles(&app).await;
        let n = node(&app, &r.owner, &r.project, "a prompt", &[]).await;
        let rec = "mutation($i: RecordVoiceInteractionInput!) { recordVoiceInteraction(input: $i) { voiceInteraction { id kind text audioUrl audio { id mimeType kind node { id } } durationSeconds status language user { id } node { id } } } }";
        let v = app
        .gql(rec, json!({ "i": { "kind": "SPEECH_TO_TEXT", "nodeId": n, "text": "hello", "durationSeconds": 1.5 } }), Some(&r.editor))
        .await;
        let vi = &v["data"]["recordVoiceInteraction"]["voiceInteraction"];
        assert!(vi["id"].as_str().unwrap().starts_with("voice_"), "{v}");
        assert_eq!(vi["status"], json!("COMPLETED"));
        assert_eq!(vi["language"], json!("en"));
        assert_eq!(vi["node"]["id"], json!(n));

        // With an uploaded recording, in the same transaction.
        let wav = wav();
        let ops = json!({ "query": rec, "variables": { "i": { "kind": "SPEECH_TO_TEXT", "nodeId": n, "audio": null, "language": "fr", "status": "PENDING" } } });
        let (status, v) = app
            .multipart(
                ops.clone(),
                json!({ "0": ["variables.i.audio"] }),
                &[file("0", "take1.wav", "audio/wav", &wav)],
                Some(&r.editor),
                true,
            )
            .await;
        assert_eq!(status, 200, "{v}");
        let vi = &v["data"]["recordVoiceInteraction"]["voiceInteraction"];
        assert_eq!(vi["audio"]["mimeType"], json!("audio/x-wav"), "{v}");
        assert_eq!(vi["audio"]["kind"], json!("AUDIO"));
        assert_eq!(vi["audio"]["node"]["id"], json!(n));
        assert_eq!(
            vi["audioUrl"],
            json!(format!("/media/{}", vi["audio"]["id"].as_str().unwrap()))
        );
        assert_eq!(vi["status"], json!("PENDING"));
        assert_eq!(
            status_of(&app, vi["audioUrl"].as_str().unwrap(), Some(&r.viewer)).await,
            200
        );

        // Audio that is not audio, or a viewer on the node: nothing recorded.
        let before = (
            app.count("voice_interactions").await,
            app.count("media").await,
        );
        let png = png();
        let (_, v) = app
            .multipart(
                ops,
                json!({ "0": ["variables.i.audio"] }),
                &[file("0", "take.wav", "audio/wav", &png)],
                Some(&r.editor),
                true,
            )
            .await;
        assert_eq!(code(&v), "BAD_USER_INPUT", "{v}");
        assert_eq!(v["errors"][0]["extensions"]["field"], json!("audio"));
        let v = app
            .gql(
                rec,
                json!({ "i": { "kind": "TEXT_TO_SPEECH", "nodeId": n, "text": "x" } }),
                Some(&r.viewer),
            )
            .await;
        assert_eq!(code(&v), "FORBIDDEN", "{v}");
        let v = app
            .gql(
                rec,
                json!({ "i": { "kind": "TEXT_TO_SPEECH", "durationSeconds": -1 } }),
                Some(&r.viewer),
            )
            .await;
        assert_eq!(code(&v), "BAD_USER_INPUT", "{v}");
        let v = app
            .gql(rec, json!({ "i": { "kind": "TEXT_TO_SPEECH" } }), None)
            .await;
        assert_eq!(code(&v), "UNAUTHENTICATED", "{v}");
        assert_eq!(
            (
                app.count("voice_interactions").await,
                app.count("media").await
            ),
            before
        );

        // Lists: the viewer's own, and everyone's on a node.
        let v = app.gql(rec, json!({ "i": { "kind": "TEXT_TO_SPEECH", "text": "read this", "audioUrl": "https://cdn.example.com/a.mp3" } }), Some(&r.member)).await;
        assert_eq!(
            v["data"]["recordVoiceInteraction"]["voiceInteraction"]["audioUrl"],
            json!("https://cdn.example.com/a.mp3"),
            "{v}"
        );
        let mine = "{ voiceInteractions { totalCount nodes { kind text } } }";
        let v = app.gql(mine, json!({}), Some(&r.editor)).await;
        assert_eq!(
            v["data"]["voiceInteractions"]["totalCount"],
            json!(2),
            "{v}"
        );
        let v = app.gql(mine, json!({}), Some(&r.member)).await;
        assert_eq!(
            v["data"]["voiceInteractions"]["nodes"],
            json!([{ "kind": "TEXT_TO_SPEECH", "text": "read this" }]),
            "{v}"
        );
        let on_node = "query($n: ID!) { graphNode(id: $n) { voiceInteractions { totalCount nodes { user { id } } } } }";
        let v = app.gql(on_node, json!({ "n": n }), Some(&r.viewer)).await;
        assert_eq!(
            v["data"]["graphNode"]["voiceInteractions"]["totalCount"],
            json!(2),
            "{v}"
        );
        let q = "query($id: ID!) { node(id: $id) { __typename } }";
        let id = vi["id"].clone();
        let v = app.gql(q, json!({ "id": id }), Some(&r.viewer)).await;
        assert_eq!(
            v["data"]["node"]["__typename"],
            json!("VoiceInteraction"),
            "{v}"
        );
        let v = app.gql(q, json!({ "id": id }), Some(&r.outsider)).await;
        assert_eq!(v["data"]["node"], Value::Null, "{v}");
    }
);

db_test!(images_get_thumbnails, |app| async move {
    let (ada, _) = user(&app, "ada").await;
    let (bob, _) = user(&app, "bob").await;
    let img = image::RgbImage::from_pixel(600, 300, image::Rgb([200, 30, 30]));
    let mut bytes = std::io::Cursor::new(Vec::new());
    image::DynamicImage::ImageRgb8(img)
        .write_to(&mut bytes, image::ImageFormat::Jpeg)
        .unwrap();
    let m = uploaded(&app, &ada, json!({}), "wide.jpg", bytes.get_ref()).await;
    assert_eq!(m["mimeType"], json!("image/jpeg"));
    let url = m["thumbnailUrl"].as_str().unwrap().to_string();
    for _ in 0..2 {
        // Made on the first request, kept for the next.
        let resp = app.get(&url, Some(&ada), &[]).await;
        assert_eq!(resp.status().as_u16(), 200);
        assert_eq!(resp.headers()["content-type"], "image/png");
        let thumb = image::load_from_memory(&resp.bytes().await.unwrap()).unwrap();
        assert_eq!((thumb.width(), thumb.height()), (256, 128));
    }
    assert_eq!(stored_files(&app), 2);
    assert_eq!(status_of(&app, &url, Some(&bob)).await, 404);
    assert_eq!(status_of(&app, &url, None).await, 404);
    // Documents have none.
    let doc = uploaded(&app, &ada, json!({}), "a.txt", b"text").await;
    assert_eq!(doc["thumbnailUrl"], Value::Null);
    let path = format!("{}/thumbnail", doc["url"].as_str().unwrap());
    assert_eq!(status_of(&app, &path, Some(&ada)).await, 404);
    // A corrupt image is stored (its signature is right) but gets no thumbnail.
    let mut broken = png()[..16].to_vec();
    broken.resize(100, 0);
    let b = uploaded(&app, &ada, json!({}), "broken.png", &broken).await;
    assert_eq!(
        status_of(&app, b["thumbnailUrl"].as_str().unwrap(), Some(&ada)).await,
        404
    );
});

db_test!(
    an_upload_cut_off_half_way_leaves_nothing,
    |app| async move {
        let (ada, _) = user(&app, "ada").await;
        let body = plexus_tests::multipart_body(
            "cut",
            &upload_ops(json!({ "file": null })),
            &json!({ "0": ["variables.i.file"] }),
            &[file("0", "a.png", "image/png", &big_png(200_000))],
        );
        // The body stops in the middle of the file: the request is malformed, nothing is kept.
        let cut = body[..body.len() / 2].to_vec();
        let resp = app
            .http
            .post(app.url("/graphql"))
            .header("content-type", "multipart/form-data; boundary=cut")
            .header("x-plexus-csrf", "1")
            .bearer_auth(&ada)
            .body(cut)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 400);
        assert_eq!(app.count("media").await, 0);
        assert_eq!(stored_files(&app), 0);
    }
);

db_test!(
    nested_file_lists_cost_one_statement_per_level,
    |app| async move {
        let (ada, _) = user(&app, "ada").await;
        let png = png();
        let q = "query($p: ID!) { project(id: $p) { media { totalCount nodes { id } } nodes { nodes { id media { totalCount nodes { id originalName } } voiceInteractions { totalCount nodes { id } } } } } }";
        let mut costs = vec![];
        for n in [1, 4] {
            let p = project(&app, &ada, &format!("P{n}"), false).await;
            for i in 0..n {
                let id = node(&app, &ada, &p, &format!("n{i}"), &[]).await;
                uploaded(&app, &ada, json!({ "nodeId": id }), "x.png", &png).await;
            }
            let (v, cost) = app.gql_counted(q, json!({ "p": p }), Some(&ada)).await;
            assert!(v["errors"].is_null(), "{v}");
            assert_eq!(v["data"]["project"]["media"]["totalCount"], json!(n), "{v}");
            costs.push(cost);
        }
        // (One parent is loaded with an index range scan and its total counted apart, so the
        // single-node canvas may cost a statement or two more; more nodes never cost more.)
        assert!(
            costs[1] <= costs[0],
            "statements grew with the rows: {costs:?}"
        );
        assert!(costs[1] <= 12, "{costs:?}");
    }
);
