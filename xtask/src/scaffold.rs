pub(crate) fn new_provider(_root: &std::path::Path, name: &str) -> anyhow::Result<()> {
    anyhow::bail!("new-provider {name}: scaffold pending")
}
