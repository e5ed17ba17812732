"""(question, on-topic answer, off-topic answer) triples, support-bot style, per language.

Off-topic answers are fluent and plausible for the same bot, just not for this question: that is
the failure the relevance alert exists to catch.
"""

from __future__ import annotations

EN: list[tuple[str, str, str]] = [
    (
        "What is the refund window for annual plans?",
        "Annual plans can be refunded within 30 days of purchase, per refund policy v3.",
        "Monthly plans renew automatically on the first day of each month.",
    ),
    (
        "How do I reset my password?",
        "Click 'Forgot password' on the sign-in page and follow the link we email you to set a new password.",
        "Our office in Dublin is open Monday to Friday from 9am to 5pm.",
    ),
    (
        "Can I change the billing address on my invoice?",
        "Yes. Go to Billing > Invoices, open the invoice and edit the billing address before downloading.",
        "Two-factor authentication adds a one-time code to every sign-in.",
    ),
    (
        "Why was my card declined?",
        "Cards are usually declined when the bank blocks the charge or the card has expired; "
        "please check with your bank.",
        "We ship to over forty countries, with tracking on every parcel.",
    ),
    (
        "How long does shipping to Canada take?",
        "Parcels to Canada usually arrive within 5 to 8 business days.",
        "You can export your data as CSV from the Reports tab.",
    ),
    (
        "Does the Pro plan include API access?",
        "Yes, every Pro plan includes API access with 10,000 requests per day.",
        "Our mobile app is available for iOS and Android.",
    ),
    (
        "How can I cancel my subscription?",
        "You can cancel the subscription at any time under Account > Subscription > Cancel.",
        "Invoices are emailed as PDF on the first day of each month.",
    ),
    (
        "Is my data encrypted at rest?",
        "All customer data is encrypted at rest with AES-256 and in transit with TLS 1.3.",
        "Data exports are available as CSV from the Reports tab.",
    ),
]

DE: list[tuple[str, str, str]] = [
    (
        "Wie lange gilt das Rückgaberecht?",
        "Das Rückgaberecht gilt 14 Tage ab Kauf (Richtlinie v2).",
        "Unser Kundenservice ist montags bis freitags von 9 bis 17 Uhr erreichbar.",
    ),
    (
        "Wie kann ich mein Passwort zurücksetzen?",
        "Klicken Sie auf der Anmeldeseite auf „Passwort vergessen“ und folgen Sie dem Link in der E-Mail.",
        "Die Lieferung nach Österreich dauert in der Regel drei Werktage.",
    ),
    (
        "Wann wird meine Bestellung geliefert?",
        "Bestellungen werden innerhalb von 2 bis 4 Werktagen geliefert; "
        "die Sendungsnummer erhalten Sie per E-Mail.",
        "Eine Bestellung können Sie bis zum Versand kostenlos stornieren.",
    ),
    (
        "Wie kündige ich meinen Vertrag?",
        "Den Vertrag kündigen Sie unter Konto > Verträge > Kündigung; "
        "die Vertragslaufzeit endet zum Monatsende.",
        "Unsere App gibt es für iOS und Android.",
    ),
    (
        "Welche Zahlungsmethoden akzeptieren Sie?",
        "Wir akzeptieren Kreditkarte, PayPal und SEPA-Lastschrift als Zahlungsmethode.",
        "Das Passwort muss mindestens zwölf Zeichen lang sein.",
    ),
    (
        "Kann ich meine Rechnungsadresse ändern?",
        "Ja, die Rechnungsadresse ändern Sie unter Abrechnung > Rechnungsdaten.",
        "Ihre Adresse für die Lieferung können Sie im Kundenkonto hinterlegen.",
    ),
    (
        "Wie hoch sind die Versandkosten in die Schweiz?",
        "Der Versand in die Schweiz kostet 9,90 €; ab 100 € Bestellwert sind die Versandkosten frei.",
        "Ihr Konto wurde aus Sicherheitsgründen vorübergehend gesperrt.",
    ),
    (
        "Warum wurde meine Kreditkarte abgelehnt?",
        "Eine Kreditkarte wird meist abgelehnt, wenn das Limit erreicht oder die Karte abgelaufen ist.",
        "Unsere Filialen haben samstags bis 18 Uhr geöffnet.",
    ),
]

FR: list[tuple[str, str, str]] = [
    (
        "Quel est le délai de remboursement pour les abonnements annuels ?",
        "Les abonnements annuels sont remboursables dans un délai de 30 jours après l'achat.",
        "Vous pouvez modifier votre photo de profil dans Paramètres > Compte.",
    ),
    (
        "Comment réinitialiser mon mot de passe ?",
        "Cliquez sur « Mot de passe oublié » sur la page de connexion pour réinitialiser votre mot de passe.",
        "Nos bureaux sont ouverts du lundi au vendredi de 9 h à 18 h.",
    ),
    (
        "Quand ma commande sera-t-elle livrée ?",
        "Votre commande sera livrée sous 3 à 5 jours ouvrés ; le numéro de suivi arrive par e-mail.",
        "L'application mobile est disponible sur iOS et Android.",
    ),
    (
        "Comment résilier mon abonnement ?",
        "Pour résilier l'abonnement, allez dans Compte > Abonnement > Résiliation.",
        "Un abonnement mensuel se renouvelle automatiquement chaque mois.",
    ),
    (
        "Quels moyens de paiement acceptez-vous ?",
        "Nous acceptons la carte bancaire, PayPal et le prélèvement SEPA comme moyens de paiement.",
        "Votre colis a été remis au transporteur ce matin.",
    ),
    (
        "Puis-je modifier l'adresse de facturation ?",
        "Oui, l'adresse de facturation se modifie dans Facturation > Coordonnées.",
        "Vous pouvez télécharger chaque facture au format PDF.",
    ),
    (
        "Pourquoi ma carte bancaire a-t-elle été refusée ?",
        "Une carte bancaire est souvent refusée quand le plafond est atteint ou la carte expirée.",
        "Vous pouvez exporter vos rapports au format CSV.",
    ),
    (
        "Mes données sont-elles chiffrées ?",
        "Oui, toutes vos données sont chiffrées au repos (AES-256) et en transit (TLS 1.3).",
        "Le remboursement est effectué sous cinq jours ouvrés.",
    ),
]

TABLE: dict[str, list[tuple[str, str, str]]] = {"en": EN, "de": DE, "fr": FR}
