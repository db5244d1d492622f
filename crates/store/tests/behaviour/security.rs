//! Accounts' security: role and tier changes with their history, the second factor and
//! one-time codes, the outbox, and the login history the risk score reads.

use super::*;

pub(super) async fn changes_roles_and_tiers_and_keeps_the_tier_history(db: &TestDb) {
    let mut free = account("t1", Some("t1"), None, Role::User);
    free.tier = Tier::Free;
    db.store.create_account(free).await.unwrap();
    let generation = db.store.token_generation("t1").await.unwrap();
    let change = |role: Option<Role>, tier: Option<Tier>, at: i64| GrantChange {
        role,
        tier,
        new_generation: 1000 + at,
        changed_by: "admin".to_owned(),
        now_us: at,
    };
    assert!(db.store.update_grants("t1", change(None, Some(Tier::Premium), 1)).await.unwrap());
    assert_eq!(db.store.token_generation("t1").await.unwrap(), generation, "a tier change keeps the tokens");
    assert!(db.store.update_grants("t1", change(None, Some(Tier::Premium), 2)).await.unwrap());
    assert!(db.store.update_grants("t1", change(Some(Role::Manager), Some(Tier::Enterprise), 3)).await.unwrap());
    let user = db.store.user("t1").await.unwrap().unwrap();
    assert_eq!((user.role, user.tier), (Role::Manager, Tier::Enterprise));
    assert_eq!(db.store.token_generation("t1").await.unwrap(), Some(1003), "a new role ends the old tokens");
    assert!(db.store.update_grants("t1", change(Some(Role::Manager), None, 4)).await.unwrap());
    assert_eq!(db.store.token_generation("t1").await.unwrap(), Some(1003), "the same role changes nothing");
    let history = db.store.tier_history("t1").await.unwrap();
    let steps: Vec<_> = history.iter().map(|c| (c.from_tier, c.to_tier, c.at_us)).collect();
    assert_eq!(
        steps,
        [(Tier::Free, Tier::Premium, 1), (Tier::Premium, Tier::Enterprise, 3)],
        "the same tier again is no change"
    );
    assert!(history.iter().all(|c| c.changed_by == "admin"));
    // A tracked user without an account has no grants to change.
    db.store.commit_events(vec![event(1, "tracked", 0)].into(), granting()).await.unwrap();
    assert!(!db.store.update_grants("tracked", change(None, Some(Tier::Vip), 5)).await.unwrap());
    assert!(!db.store.update_grants("nobody", change(None, Some(Tier::Vip), 5)).await.unwrap());
    assert!(db.store.tier_history("nobody").await.unwrap().is_empty());
}

pub(super) async fn keeps_a_second_factor_and_accepts_each_step_once(db: &TestDb) {
    assert_eq!(db.store.mfa("m1").await.unwrap(), None);
    let pending = MfaRecord {
        user_id: "m1".to_owned(),
        secret_enc: "enc".to_owned(),
        active: false,
        last_step: 0,
        recovery_hashes: Vec::new(),
        created_at_us: 1,
    };
    db.store.put_mfa(pending.clone()).await.unwrap();
    assert_eq!(db.store.mfa("m1").await.unwrap(), Some(pending.clone()));
    assert!(!db.store.use_recovery_code("m1", "h1").await.unwrap(), "not active yet");
    let active = MfaRecord { active: true, recovery_hashes: vec!["h1".to_owned(), "h2".to_owned()], ..pending };
    db.store.put_mfa(active).await.unwrap();
    assert!(db.store.accept_totp_step("m1", 100).await.unwrap());
    assert!(!db.store.accept_totp_step("m1", 100).await.unwrap(), "the same step twice");
    assert!(!db.store.accept_totp_step("m1", 99).await.unwrap(), "an earlier step");
    assert!(db.store.accept_totp_step("m1", 101).await.unwrap());
    assert!(db.store.use_recovery_code("m1", "h2").await.unwrap());
    assert!(!db.store.use_recovery_code("m1", "h2").await.unwrap(), "a recovery code works once");
    assert!(!db.store.use_recovery_code("m1", "h3").await.unwrap());
    let kept = db.store.mfa("m1").await.unwrap().unwrap();
    assert_eq!((kept.last_step, kept.recovery_hashes), (101, vec!["h1".to_owned()]));
    assert!(!db.store.accept_totp_step("nobody", 5).await.unwrap());
    assert!(db.store.delete_mfa("m1").await.unwrap());
    assert!(!db.store.delete_mfa("m1").await.unwrap());
}

pub(super) async fn keeps_the_outbox_and_one_time_codes(db: &TestDb) {
    let message = |n: i64| OutboxMessage {
        id: 0,
        user_id: format!("o{n}"),
        channel: "email".to_owned(),
        recipient_enc: "enc-to".to_owned(),
        subject: format!("subject {n}"),
        body_enc: "enc-body".to_owned(),
        created_at_us: n,
    };
    let first = db.store.append_outbox(message(1)).await.unwrap();
    let second = db.store.append_outbox(message(2)).await.unwrap();
    assert!(second > first);
    let kept = db.store.outbox(10).await.unwrap();
    assert_eq!(kept.iter().map(|m| m.subject.as_str()).collect::<Vec<_>>(), ["subject 2", "subject 1"], "newest first");
    assert_eq!(kept[0], OutboxMessage { id: second, ..message(2) });
    assert_eq!(db.store.outbox(1).await.unwrap().len(), 1);

    db.store.put_mfa_code("o1", "h-old", 100).await.unwrap();
    db.store.put_mfa_code("o1", "h-new", 100).await.unwrap();
    assert!(!db.store.take_mfa_code("o1", "h-old", 50).await.unwrap(), "replaced by the newer code");
    assert!(!db.store.take_mfa_code("o1", "h-new", 101).await.unwrap(), "expired");
    assert!(db.store.take_mfa_code("o1", "h-new", 100).await.unwrap());
    assert!(!db.store.take_mfa_code("o1", "h-new", 100).await.unwrap(), "used once");
}

pub(super) async fn keeps_logins_and_counts_failing_logins_per_network(db: &TestDb) {
    let login = |n: i64| LoginRecord {
        user_id: "h1".to_owned(),
        at_us: n,
        network: "198.51.100.0".to_owned(),
        device: format!("d{n}"),
        hour: n,
        outcome: "success".to_owned(),
        score: 0.35,
        reasons: vec!["a device never seen for this account".to_owned()],
    };
    for n in 1..=3 {
        db.store.record_login(login(n)).await.unwrap();
    }
    let history = db.store.login_history("h1", 2).await.unwrap();
    assert_eq!(history, [login(3), login(2)], "newest first, limited");
    assert!(db.store.login_history("nobody", 5).await.unwrap().is_empty());

    for (login_key, network, at) in
        [("k1", "203.0.113.0", 10), ("k2", "203.0.113.0", 11), ("k3", "203.0.113.0", 2), ("k4", "192.0.2.0", 12)]
    {
        db.store
            .count_login_attempt(&LoginPair { login_key: login_key.to_owned(), network: network.to_owned() }, at)
            .await
            .unwrap();
    }
    assert_eq!(db.store.failing_logins_on_network("203.0.113.0", 5, "k0").await.unwrap(), 2, "k3's attempt is too old");
    assert_eq!(
        db.store.failing_logins_on_network("203.0.113.0", 5, "k1").await.unwrap(),
        1,
        "the login itself left out"
    );
    assert_eq!(db.store.failing_logins_on_network("192.0.2.0", 0, "k0").await.unwrap(), 1);
}
