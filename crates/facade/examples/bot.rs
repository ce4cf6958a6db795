//! A tiny chat bot on free LLM capacity: each input line is `user: message`; `/translate
//! LANG: text | text | …` translates a batch; `/status` prints the quota report; `/clear
//! user` forgets a user's history.
//!
//! Run with at least one key set (e.g. `GROQ_API_KEY=… cargo run -p llmpool --example bot`).

use std::io::BufRead;

use llmpool::ChatHandler;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let handler = ChatHandler::builder()
        .system_prompt("You are a friendly assistant. Answer briefly.")
        .build()
        .await?;
    eprintln!(
        "bot ready: type `user: message`, `/translate LANG: a | b`, `/status` or `/clear user`"
    );
    for line in std::io::stdin().lock().lines() {
        let line = line?;
        let line = line.trim();
        if line == "/status" {
            let status = handler.get_quota_status().await?;
            println!("{}", serde_json::to_string_pretty(&status)?);
        } else if let Some(user) = line.strip_prefix("/clear ") {
            handler.clear_history(user.trim()).await?;
        } else if let Some(rest) = line.strip_prefix("/translate ") {
            let (lang, texts) = rest.split_once(':').unwrap_or(("English", rest));
            let texts: Vec<String> = texts.split('|').map(|t| t.trim().to_owned()).collect();
            for t in handler
                .translate_multiple_texts(&texts, Some(lang.trim()))
                .await
            {
                println!("{t}");
            }
        } else if let Some((user, message)) = line.split_once(':') {
            // A failed turn is reported and the bot keeps serving the others.
            match handler
                .send_message_with_history(user.trim(), message.trim())
                .await
            {
                Ok(answer) => println!("{answer}"),
                Err(e) => eprintln!("error: {e}"),
            }
        } else if !line.is_empty() {
            eprintln!("expected `user: message`");
        }
    }
    Ok(())
}
